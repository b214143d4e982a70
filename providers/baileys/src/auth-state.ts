// Baileys' auth state (credentials and every signal key type) in the control plane's key-value store (protocol §7).
//
// Keys are `creds` and `<type>:<id>` (`pre-key:12`, `session:4155550100.0`, `app-state-sync-key:AAAAAK3F`, …);
// values are JSON with Buffers as base64 (Baileys' BufferJSON). Every write is one state batch, applied atomically
// by the control plane, and writes are sent one at a time in the order Baileys made them; a `set` resolves only
// once the store has it (write-through), so a SIGKILL loses no key Baileys believed saved. Reads are served from an
// in-memory cache filled by reads and writes alike, misses included, so a busy session asks the store once per key.

import { createHash } from "node:crypto";

import {
  BufferJSON,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from "baileys";

import { Backoff, sleep } from "@wagw/node-kit";

import { EpochSuperseded, GatewayUnavailable, type StateStore } from "./gateway.js";
import type { Logger } from "./log.js";

export const CREDS_KEY = "creds";
const MAX_KEY_LENGTH = 255;
const MAX_VALUE_BYTES = 1024 * 1024;
// Below the protocol's 8 MiB per batch, leaving room for JSON quoting of the batch itself.
const MAX_BATCH_BYTES = 6 * 1024 * 1024;
const MAX_GETS_PER_CALL = 200;
const CACHE_LIMIT = 20_000;

export interface AuthStoreOptions {
  /** How long a read or a write keeps retrying an unreachable control plane before it fails. */
  retrySeconds: number;
}

export function encodeValue(value: unknown): string {
  return JSON.stringify(value, BufferJSON.replacer);
}

export function decodeValue(text: string): unknown {
  return JSON.parse(text, BufferJSON.reviver);
}

/** The store key of one signal key; ids that would not make a valid key are hashed. */
export function storeKey(type: string, id: string): string {
  const key = `${type}:${id}`;
  if (key.length <= MAX_KEY_LENGTH && /^[\x21-\x7e]+$/.test(key)) return key;
  return `${type}:#${createHash("sha256").update(id).digest("hex")}`;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class StoredAuthState {
  creds: AuthenticationCreds = initAuthCreds();
  /** Whether the store held credentials when they were loaded. */
  hadSession = false;
  readonly keys: SignalKeyStore;
  private readonly cache = new Map<string, unknown>();
  private readonly pending = new Map<string, string | null>();
  private seq = 0;
  private waiters: Waiter[] = [];
  private writer: Promise<boolean> | null = null;

  constructor(
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly options: AuthStoreOptions = { retrySeconds: 60 },
  ) {
    this.keys = {
      get: (type, ids) => this.getKeys(type, ids),
      set: (data) => this.setKeys(data),
      clear: () => this.clear(),
    };
  }

  get state(): AuthenticationState {
    return { creds: this.creds, keys: this.keys };
  }

  /** Read the credentials; until this returns the worker knows nothing about its session. */
  async load(): Promise<AuthenticationState> {
    // One attempt: the caller retries, and knows when to give up (a stopping worker).
    const values = await this.store.state({ get: [CREDS_KEY] });
    const raw = values[CREDS_KEY];
    this.hadSession = typeof raw === "string";
    if (typeof raw === "string") {
      try {
        this.creds = decodeValue(raw) as AuthenticationCreds;
      } catch (error) {
        this.log.error("stored credentials are unreadable; starting a new login", { error: String(error) });
        this.creds = initAuthCreds();
        this.hadSession = false;
      }
    } else {
      this.creds = initAuthCreds();
    }
    return this.state;
  }

  /** Persist the credentials as they are now (Baileys mutates them in place). */
  saveCreds(): Promise<void> {
    return this.enqueue(new Map([[CREDS_KEY, encodeValue(this.creds)]]));
  }

  /** Delete every key of the instance (logout, logged out); the next login starts from fresh credentials. */
  async clear(): Promise<void> {
    // Whatever was still to be written is about to be wiped anyway.
    this.pending.clear();
    this.settle(Infinity, null);
    await this.idle();
    await this.withRetry("clear the session", () => this.store.state({ clear: true }));
    this.cache.clear();
    this.creds = initAuthCreds();
    this.hadSession = false;
  }

  /** Resolves once every write made so far is in the store (or has failed). */
  async idle(): Promise<void> {
    while (this.writer) await this.writer;
  }

  get pendingWrites(): number {
    return this.pending.size;
  }

  private async getKeys<T extends keyof SignalDataTypeMap>(
    type: T,
    ids: string[],
  ): Promise<{ [id: string]: SignalDataTypeMap[T] }> {
    const result: { [id: string]: SignalDataTypeMap[T] } = {};
    const missing: string[] = [];
    for (const id of ids) {
      const key = storeKey(type, id);
      if (this.cache.has(key)) {
        const value = this.cache.get(key);
        if (value !== null && value !== undefined) result[id] = value as SignalDataTypeMap[T];
      } else {
        missing.push(id);
      }
    }
    for (let i = 0; i < missing.length; i += MAX_GETS_PER_CALL) {
      const chunk = missing.slice(i, i + MAX_GETS_PER_CALL);
      const keys = chunk.map((id) => storeKey(type, id));
      const values = await this.withRetry(`read ${type} keys`, () => this.store.state({ get: keys }));
      chunk.forEach((id, index) => {
        const key = keys[index]!;
        // A write queued while the read was in flight is newer than what the store answered.
        if (this.pending.has(key) || this.cache.has(key)) {
          const value = this.cache.get(key);
          if (value !== null && value !== undefined) result[id] = value as SignalDataTypeMap[T];
          return;
        }
        const raw = values[key];
        let value: unknown = null;
        if (typeof raw === "string") {
          try {
            value = reviveKey(type, decodeValue(raw));
          } catch (error) {
            this.log.error("a stored signal key is unreadable; treating it as missing", { key, error: String(error) });
          }
        }
        this.remember(key, value);
        if (value !== null) result[id] = value as SignalDataTypeMap[T];
      });
    }
    return result;
  }

  private setKeys(data: SignalDataSet): Promise<void> {
    const writes = new Map<string, string | null>();
    for (const [type, entries] of Object.entries(data)) {
      for (const [id, value] of Object.entries(entries ?? {})) {
        const key = storeKey(type, id);
        const present = value !== null && value !== undefined;
        this.remember(key, present ? value : null);
        writes.set(key, present ? encodeValue(value) : null);
      }
    }
    return this.enqueue(writes);
  }

  private remember(key: string, value: unknown): void {
    this.cache.delete(key);
    this.cache.set(key, value);
    if (this.cache.size > CACHE_LIMIT) {
      // Oldest first; a key still being written stays, the store has everything else.
      for (const old of this.cache.keys()) {
        if (this.cache.size <= CACHE_LIMIT * 0.9) break;
        if (!this.pending.has(old) && old !== CREDS_KEY) this.cache.delete(old);
      }
    }
  }

  private enqueue(writes: Map<string, string | null>): Promise<void> {
    if (!writes.size) return Promise.resolve();
    for (const [key, value] of writes) {
      this.pending.delete(key); // re-insert: the store sees keys in the order of their latest write
      this.pending.set(key, value);
    }
    const seq = ++this.seq;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
    this.kick();
    return done;
  }

  private kick(): void {
    if (this.writer) return;
    this.writer = this.writeAll().finally(() => {
      this.writer = null;
    });
    void this.writer.then((drained) => {
      if (drained && this.pending.size) this.kick();
    });
  }

  /** Write what is pending until nothing is; false when it gave up (the entries stay pending for the next write). */
  private async writeAll(): Promise<boolean> {
    const backoff = new Backoff(0.5, 5, 0);
    const started = Date.now();
    while (this.pending.size) {
      const seq = this.seq;
      const batch = new Map(this.pending);
      this.pending.clear();
      try {
        await this.writeBatch(batch);
        backoff.reset();
        this.settle(seq, null);
      } catch (error) {
        for (const [key, value] of batch) if (!this.pending.has(key)) this.pending.set(key, value);
        if (error instanceof EpochSuperseded) {
          this.pending.clear();
          this.settle(Infinity, error);
          return false;
        }
        if (Date.now() - started > this.options.retrySeconds * 1000) {
          this.log.error("could not write the session to the state store; will retry with the next write", {
            error: String(error),
            keys: this.pending.size,
          });
          this.settle(seq, error as Error);
          return false;
        }
        const delay = backoff.next();
        this.log.warning("could not write the session, will retry", { error: String(error), retry_in: delay });
        await sleep(delay);
      }
    }
    return true;
  }

  private settle(upTo: number, error: Error | null): void {
    const done = this.waiters.filter((w) => w.seq <= upTo);
    this.waiters = this.waiters.filter((w) => w.seq > upTo);
    for (const waiter of done) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }

  private async writeBatch(batch: Map<string, string | null>): Promise<void> {
    const deletes: string[] = [];
    let puts: Record<string, string> = {};
    let size = 0;
    const calls: { put?: Record<string, string>; delete?: string[] }[] = [];
    for (const [key, value] of batch) {
      if (value === null) {
        deletes.push(key);
        continue;
      }
      const bytes = Buffer.byteLength(value);
      if (bytes > MAX_VALUE_BYTES) {
        // The protocol's limit; nothing Baileys stores comes near it but a huge app-state LT-hash.
        this.log.error("a session value is over 1 MiB and cannot be stored", { key, bytes });
        continue;
      }
      if (size + bytes > MAX_BATCH_BYTES && Object.keys(puts).length) {
        calls.push({ put: puts });
        puts = {};
        size = 0;
      }
      puts[key] = value;
      size += bytes;
    }
    if (Object.keys(puts).length || !calls.length) calls.push({ put: puts });
    // Deletes go with the first batch: one atomic step in the common case of a single batch.
    calls[0]!.delete = deletes;
    for (const call of calls) {
      const body: { put?: Record<string, string>; delete?: string[] } = {};
      if (call.put && Object.keys(call.put).length) body.put = call.put;
      if (call.delete && call.delete.length) body.delete = call.delete;
      if (body.put || body.delete) await this.store.state(body);
    }
  }

  private async withRetry<T>(what: string, step: () => Promise<T>): Promise<T> {
    const backoff = new Backoff(0.5, 5, 0);
    const deadline = Date.now() + this.options.retrySeconds * 1000;
    for (;;) {
      try {
        return await step();
      } catch (error) {
        if (!(error instanceof GatewayUnavailable) || Date.now() >= deadline) throw error;
        const delay = backoff.next();
        this.log.warning(`could not ${what}, will retry`, { error: error.message, retry_in: delay });
        await sleep(delay);
      }
    }
  }
}

function reviveKey(type: string, value: unknown): unknown {
  if (type === "app-state-sync-key" && value && typeof value === "object") {
    return proto.Message.AppStateSyncKeyData.fromObject(value as Record<string, unknown>);
  }
  return value;
}
