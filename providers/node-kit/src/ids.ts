// Event ids (ULIDs: 48 bits of milliseconds, then 80 random bits, so they sort by creation) and timestamps.

import { createHash, randomBytes } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function encodeTime(ms: number): string {
  let out = "";
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[ms % 32]! + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeBytes(bytes: Uint8Array, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += CROCKFORD[bytes[i % bytes.length]! % 32]!;
  return out;
}

export function ulid(now: number = Date.now()): string {
  return encodeTime(now) + encodeBytes(randomBytes(16), 16);
}

export function newEventId(): string {
  return `evt_${ulid()}`;
}

/** An id derived from what the event is about, so the same news told twice (a replay after a restart) de-duplicates. */
export function derivedId(prefix: string, ...parts: string[]): string {
  const digest = createHash("sha256").update(parts.join("\u0000")).digest();
  return `${prefix}_${encodeBytes(digest, 26)}`;
}

export function utcNow(date: Date = new Date()): string {
  return date.toISOString();
}

export function isoIn(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString();
}
