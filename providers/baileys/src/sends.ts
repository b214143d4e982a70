// The unified send body (protocol §5): validation, and its translation into Baileys' message content.

import { createHash } from "node:crypto";

import type { AnyMessageContent, proto } from "baileys";

import { Problem, invalidRequest } from "./problems.js";

export const MESSAGE_TYPES = [
  "text",
  "image",
  "video",
  "audio",
  "document",
  "sticker",
  "location",
  "contact",
  "reaction",
  "poll",
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
const MEDIA_TYPES = new Set<string>(["image", "video", "audio", "document", "sticker"]);
export const MAX_MEDIA_BYTES = 16 * 1024 * 1024;
export const MAX_DOCUMENT_BYTES = 100 * 1024 * 1024;
const MAX_ID_LENGTH = 64;
const MAX_TEXT_LENGTH = 4096;
export const PRESENCE_STATES = ["composing", "recording", "paused", "available", "unavailable"] as const;

const PHONE = /^[0-9]{6,15}$/;
// The user part of a JID is digits, optionally with a device (`:3`), or the creator-timestamp form of old groups.
const JID = /^[0-9]+(?:[-:.][0-9]+)*@(?:s\.whatsapp\.net|g\.us|lid)$/;

export const isPhone = (value: unknown): value is string => typeof value === "string" && PHONE.test(value);
export const isRecipient = (value: unknown): value is string =>
  typeof value === "string" && (PHONE.test(value) || JID.test(value));

/** A phone number or a JID as a JID. */
export function toJid(recipient: string): string {
  return PHONE.test(recipient) ? `${recipient}@s.whatsapp.net` : recipient;
}

export interface MediaSource {
  url?: string;
  base64?: string;
  mimetype?: string;
  filename?: string;
  caption?: string;
  limit: number;
}

export interface Send {
  id: string;
  to: string;
  type: MessageType;
  replyTo?: string;
  text?: string;
  media?: MediaSource;
  voiceNote?: boolean;
  location?: { latitude: number; longitude: number; name?: string; address?: string };
  contact?: { name: string; phones: string[]; organization?: string; email?: string };
  reaction?: { messageId: string; emoji: string };
  poll?: { name: string; options: string[]; selectableCount: number };
}

export function requireObject(value: unknown): Record<string, unknown> {
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw invalidRequest("The body must be a JSON object.");
  return value as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string, where = ""): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidRequest(`\`${where}${key}\` must be a string.`);
  return value;
}

function requiredString(body: Record<string, unknown>, key: string, where = ""): string {
  const value = optionalString(body, key, where);
  if (value === undefined) throw invalidRequest(`\`${where}${key}\` must be a string.`);
  return value;
}

function nonEmpty(body: Record<string, unknown>, key: string, where = ""): string {
  const value = requiredString(body, key, where);
  if (!value) throw invalidRequest(`\`${where}${key}\` must not be empty.`);
  return value;
}

export function validateSend(raw: unknown): Send {
  const body = requireObject(raw);
  const id = body.id;
  if (typeof id !== "string" || !id || id.length > MAX_ID_LENGTH || !/^[\x21-\x7e]+$/.test(id)) {
    throw invalidRequest(`\`id\` must be 1 to ${MAX_ID_LENGTH} printable ASCII characters.`);
  }
  const to = body.to;
  if (!isRecipient(to)) {
    throw new Problem(422, "invalid_recipient", "`to` must be a phone number (6 to 15 digits) or a WhatsApp JID.");
  }
  const type = body.type;
  if (typeof type !== "string") throw invalidRequest("`type` must be a string.");
  if (!(MESSAGE_TYPES as readonly string[]).includes(type)) {
    throw new Problem(
      422,
      "unsupported_message_type",
      `The Baileys worker cannot send messages of type ${JSON.stringify(type)}.`,
    );
  }
  const send: Send = { id, to, type: type as MessageType };
  const replyTo = optionalString(body, "reply_to");
  if (replyTo) send.replyTo = replyTo;
  switch (send.type) {
    case "text": {
      const text = requiredString(body, "text");
      if (text.length < 1 || text.length > MAX_TEXT_LENGTH) {
        throw invalidRequest(`\`text\` must be 1 to ${MAX_TEXT_LENGTH} characters.`);
      }
      send.text = text;
      break;
    }
    case "location":
      send.location = validateLocation(body.location);
      break;
    case "contact":
      send.contact = validateContact(body.contact);
      break;
    case "reaction": {
      const reaction = body.reaction;
      if (!reaction || typeof reaction !== "object" || Array.isArray(reaction)) {
        throw invalidRequest("`reaction` must be an object with `message_id` and `emoji`.");
      }
      const fields = reaction as Record<string, unknown>;
      send.reaction = {
        messageId: nonEmpty(fields, "message_id", "reaction."),
        emoji: requiredString(fields, "emoji", "reaction."),
      };
      break;
    }
    case "poll":
      send.poll = validatePoll(body.poll);
      break;
    default:
      send.media = validateMedia(body, send.type);
      if (send.type === "audio") {
        const voiceNote = body.voice_note ?? false;
        if (typeof voiceNote !== "boolean") throw invalidRequest("`voice_note` must be a boolean.");
        send.voiceNote = voiceNote;
      }
  }
  return send;
}

function validateMedia(body: Record<string, unknown>, type: string): MediaSource {
  const media = body.media;
  if (!media || typeof media !== "object" || Array.isArray(media)) {
    throw invalidRequest("`media` must be an object with `url` or `base64`.");
  }
  const fields = media as Record<string, unknown>;
  const url = optionalString(fields, "url", "media.");
  const encoded = optionalString(fields, "base64", "media.");
  if ((url === undefined) === (encoded === undefined)) {
    throw invalidRequest("`media` must have exactly one of `url` and `base64`.");
  }
  if (url !== undefined && !/^https?:\/\//i.test(url))
    throw invalidRequest("`media.url` must be an http:// or https:// URL.");
  const limit = type === "document" ? MAX_DOCUMENT_BYTES : MAX_MEDIA_BYTES;
  if (encoded !== undefined) {
    // Checked here, not at send time, so a bad body is a 422/413 whatever the connection state.
    if (Math.floor((encoded.length * 3) / 4) > limit + 3) throw tooLarge(limit);
    const compact = encoded.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
      throw invalidRequest("`media.base64` is not valid base64.");
    }
    const size = Buffer.byteLength(compact, "base64");
    if (size > limit) throw tooLarge(limit);
    if (size === 0) throw invalidRequest("`media.base64` is empty.");
  }
  // The protocol lists mimetype, filename and caption next to `media`; inside it is accepted too, `media` winning.
  const extra = (key: string): string | undefined => {
    const value = fields[key] ?? body[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw invalidRequest(`\`${key}\` must be a string.`);
    return value;
  };
  const source: MediaSource = { limit };
  if (url !== undefined) source.url = url;
  if (encoded !== undefined) source.base64 = encoded;
  const mimetype = extra("mimetype");
  if (mimetype) source.mimetype = mimetype;
  const filename = extra("filename");
  if (filename) source.filename = filename;
  // WhatsApp shows captions on images, videos and documents only; elsewhere one is dropped, not an error.
  const caption = ["image", "video", "document"].includes(type) ? extra("caption") : undefined;
  if (caption) source.caption = caption;
  return source;
}

function coordinate(value: unknown, name: string, bound: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > bound) {
    throw invalidRequest(`\`location.${name}\` must be a number between -${bound} and ${bound}.`);
  }
  return value;
}

function validateLocation(raw: unknown): NonNullable<Send["location"]> {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw invalidRequest("`location` must be an object with `latitude` and `longitude`.");
  }
  const fields = raw as Record<string, unknown>;
  const location: NonNullable<Send["location"]> = {
    latitude: coordinate(fields.latitude, "latitude", 90),
    longitude: coordinate(fields.longitude, "longitude", 180),
  };
  const name = optionalString(fields, "name", "location.");
  if (name) location.name = name;
  const address = optionalString(fields, "address", "location.");
  if (address) location.address = address;
  return location;
}

function validateContact(raw: unknown): NonNullable<Send["contact"]> {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw invalidRequest("`contact` must be an object with `name` and `phones`.");
  }
  const fields = raw as Record<string, unknown>;
  const phones = fields.phones;
  if (!Array.isArray(phones) || !phones.length || !phones.every((p) => typeof p === "string" && /\d/.test(p))) {
    throw invalidRequest("`contact.phones` must be a non-empty list of phone numbers.");
  }
  const contact: NonNullable<Send["contact"]> = {
    name: nonEmpty(fields, "name", "contact."),
    phones: phones as string[],
  };
  const organization = optionalString(fields, "organization", "contact.");
  if (organization) contact.organization = organization;
  const email = optionalString(fields, "email", "contact.");
  if (email) contact.email = email;
  return contact;
}

function validatePoll(raw: unknown): NonNullable<Send["poll"]> {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw invalidRequest("`poll` must be an object with `name`, `options` and `selectable_count`.");
  }
  const fields = raw as Record<string, unknown>;
  const options = fields.options;
  if (
    !Array.isArray(options) ||
    options.length < 2 ||
    options.length > 12 ||
    !options.every((o) => typeof o === "string" && o.length > 0) ||
    new Set(options).size !== options.length
  ) {
    throw invalidRequest("`poll.options` must be 2 to 12 distinct, non-empty strings.");
  }
  const selectable = fields.selectable_count ?? 1;
  if (
    typeof selectable !== "number" ||
    !Number.isInteger(selectable) ||
    selectable < 0 ||
    selectable > options.length
  ) {
    throw invalidRequest("`poll.selectable_count` must be an integer from 0 (any number) to the number of options.");
  }
  return { name: nonEmpty(fields, "name", "poll."), options: options as string[], selectableCount: selectable };
}

function tooLarge(limit: number): Problem {
  return new Problem(413, "media_too_large", `The media exceeds ${limit} bytes.`);
}

/** The WhatsApp message id of a send: the client's own id, or (mode "derived") a WhatsApp Web-shaped id made from it. */
export function whatsappMessageId(clientId: string, mode: "client" | "derived"): string {
  if (mode === "client") return clientId;
  return "3EB0" + createHash("sha256").update(clientId).digest("hex").slice(0, 18).toUpperCase();
}

/** The key of the message a reaction or reply points at, as far as the worker knows it. */
export type KeyLookup = (messageId: string, chatJid: string) => proto.IMessageKey | undefined;

/** Baileys' content for a validated send; `media` holds the bytes of a media send. */
export function buildContent(send: Send, chatJid: string, media?: Buffer, lookup?: KeyLookup): AnyMessageContent {
  switch (send.type) {
    case "text":
      return { text: send.text! };
    case "image":
      return { image: media!, caption: send.media?.caption, mimetype: send.media?.mimetype };
    case "video":
      return { video: media!, caption: send.media?.caption, mimetype: send.media?.mimetype };
    case "audio":
      return {
        audio: media!,
        ptt: send.voiceNote ?? false,
        // WhatsApp plays voice notes only as Ogg/Opus; other audio is an attachment.
        mimetype: send.media?.mimetype ?? (send.voiceNote ? "audio/ogg; codecs=opus" : "audio/mpeg"),
      };
    case "document":
      return {
        document: media!,
        mimetype: send.media?.mimetype ?? "application/octet-stream",
        fileName: send.media?.filename ?? "file",
        caption: send.media?.caption,
      };
    case "sticker":
      return { sticker: media!, mimetype: send.media?.mimetype ?? "image/webp" };
    case "location": {
      const location = send.location!;
      const message: proto.Message.ILocationMessage = {
        degreesLatitude: location.latitude,
        degreesLongitude: location.longitude,
      };
      if (location.name) message.name = location.name;
      if (location.address) message.address = location.address;
      return { location: message };
    }
    case "contact": {
      const contact = send.contact!;
      return {
        contacts: { displayName: contact.name, contacts: [{ displayName: contact.name, vcard: vcard(contact) }] },
      };
    }
    case "reaction": {
      const reaction = send.reaction!;
      const key = lookup?.(reaction.messageId, chatJid) ?? {
        remoteJid: chatJid,
        id: reaction.messageId,
        fromMe: false,
      };
      return { react: { text: reaction.emoji, key } };
    }
    case "poll": {
      const poll = send.poll!;
      return { poll: { name: poll.name, values: poll.options, selectableCount: poll.selectableCount } };
    }
  }
}

function escapeVcard(value: string): string {
  return value
    .replace(/\\/g, "\\\\")
    .replace(/\n/g, "\\n")
    .replace(/([,;])/g, "\\$1");
}

/** A vCard 3.0 as WhatsApp's apps write them: `waid` on each number makes it tappable. */
export function vcard(contact: NonNullable<Send["contact"]>): string {
  const lines = ["BEGIN:VCARD", "VERSION:3.0", `FN:${escapeVcard(contact.name)}`];
  if (contact.organization) lines.push(`ORG:${escapeVcard(contact.organization)};`);
  if (contact.email) lines.push(`EMAIL;type=INTERNET:${escapeVcard(contact.email)}`);
  for (const phone of contact.phones) {
    const digits = phone.replace(/\D/g, "");
    lines.push(`TEL;type=CELL;type=VOICE;waid=${digits}:+${digits}`);
  }
  lines.push("END:VCARD");
  return lines.join("\n");
}

export function decodeBase64(encoded: string): Buffer {
  return Buffer.from(encoded.replace(/\s+/g, ""), "base64");
}

/** Fetch media named by URL, refusing more than `limit` bytes. */
export async function downloadMedia(
  url: string,
  limit: number,
  timeoutSeconds = 60,
): Promise<{ data: Buffer; mimetype?: string }> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutSeconds * 1000), redirect: "follow" });
  } catch (error) {
    throw invalidRequest(`Could not download the media: ${(error as Error).message}`);
  }
  if (!response.ok || !response.body) throw invalidRequest(`Could not download the media: HTTP ${response.status}.`);
  const length = Number(response.headers.get("content-length") ?? NaN);
  if (Number.isFinite(length) && length > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(Buffer.from(chunk));
  }
  if (!size) throw invalidRequest("The media at `media.url` is empty.");
  const type = response.headers.get("content-type")?.split(";")[0]?.trim();
  return type ? { data: Buffer.concat(chunks), mimetype: type } : { data: Buffer.concat(chunks) };
}
