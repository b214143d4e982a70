// The unified send body (docs/worker-protocol.md §5): validation, and what it becomes for whatsapp-web.js.
//
// Both halves are pure so they can be tested without a browser: `validateSend` turns a request body into a `Send`
// (or a problem), `buildOutgoing` turns a `Send` into the content and options of a whatsapp-web.js send.

import { Problem, invalidRecipient, invalidRequest } from "./problems.js";

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
export const MEDIA_TYPES = ["image", "video", "audio", "document", "sticker"] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];
export const PRESENCE_STATES = ["composing", "recording", "paused", "available", "unavailable"] as const;
export type PresenceState = (typeof PRESENCE_STATES)[number];

export const MAX_MEDIA_BYTES = 16 * 1024 * 1024;
export const MAX_DOCUMENT_BYTES = 100 * 1024 * 1024;
const MAX_ID_LENGTH = 64;
const MAX_TEXT_LENGTH = 4096;
const MAX_POLL_OPTIONS = 12;

const PHONE = /^[0-9]{6,15}$/;
// The user part of a JID is digits, optionally with a device (`:3`), or the creator-timestamp form of old groups.
const JID = /^[0-9]+(?:[-:.][0-9]+)*@(?:s\.whatsapp\.net|g\.us|lid|c\.us)$/;

export function isPhone(value: unknown): value is string {
  return typeof value === "string" && PHONE.test(value);
}

export function isRecipient(value: unknown): value is string {
  return typeof value === "string" && (PHONE.test(value) || JID.test(value));
}

/** The whatsapp-web.js chat id of a protocol recipient: phones and `@s.whatsapp.net` JIDs become `…@c.us`. */
export function chatIdOf(recipient: string): string {
  if (PHONE.test(recipient)) return `${recipient}@c.us`;
  const [user = "", server = ""] = recipient.split("@");
  if (server === "s.whatsapp.net" || server === "c.us") return `${user.split(":")[0]}@c.us`;
  return recipient;
}

export interface MediaSource {
  url?: string;
  base64?: string;
  mimetype?: string;
  filename?: string;
  caption?: string;
  limit: number;
}

export interface Location {
  latitude: number;
  longitude: number;
  name?: string;
  address?: string;
}

export interface ContactCard {
  name: string;
  phones: string[];
  organization?: string;
  email?: string;
}

export interface Send {
  id: string;
  to: string;
  type: MessageType;
  replyTo?: string;
  text?: string;
  media?: MediaSource;
  voiceNote?: boolean;
  location?: Location;
  contact?: ContactCard;
  reaction?: { messageId: string; emoji: string };
  poll?: { name: string; options: string[]; selectableCount: number };
}

export function requireObject(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidRequest("The body must be a JSON object.");
  }
  return value as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string, where = ""): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidRequest(`\`${where}${key}\` must be a string.`);
  return value;
}

function requiredString(body: Record<string, unknown>, key: string, where = ""): string {
  const value = body[key];
  if (typeof value !== "string") throw invalidRequest(`\`${where}${key}\` must be a string.`);
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
  if (typeof id !== "string" || !id || id.length > MAX_ID_LENGTH) {
    throw invalidRequest(`\`id\` must be a string of 1 to ${MAX_ID_LENGTH} characters.`);
  }
  const to = body.to;
  if (!isRecipient(to)) throw invalidRecipient("`to` must be a phone number (6 to 15 digits) or a WhatsApp JID.");
  const type = body.type;
  if (typeof type !== "string") throw invalidRequest("`type` must be a string.");
  if (!(MESSAGE_TYPES as readonly string[]).includes(type)) {
    throw new Problem(
      422,
      "unsupported_message_type",
      `whatsapp-web.js cannot send messages of type ${JSON.stringify(type)}.`,
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
    case "image":
    case "video":
    case "audio":
    case "document":
    case "sticker":
      send.media = mediaSource(body, send.type);
      if (send.type === "audio") {
        const voiceNote = body.voice_note ?? false;
        if (typeof voiceNote !== "boolean") throw invalidRequest("`voice_note` must be a boolean.");
        send.voiceNote = voiceNote;
      }
      break;
    case "location":
      send.location = location(body.location);
      break;
    case "contact":
      send.contact = contact(body.contact);
      break;
    case "reaction": {
      const reaction = body.reaction;
      if (typeof reaction !== "object" || reaction === null || Array.isArray(reaction)) {
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
      send.poll = poll(body.poll);
      break;
  }
  return send;
}

function mediaSource(body: Record<string, unknown>, kind: MediaType): MediaSource {
  const raw = body.media;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw invalidRequest("`media` must be an object with `url` or `base64`.");
  }
  const media = raw as Record<string, unknown>;
  const url = optionalString(media, "url", "media.");
  const encoded = optionalString(media, "base64", "media.");
  if ((url === undefined) === (encoded === undefined)) {
    throw invalidRequest("`media` must have exactly one of `url` and `base64`.");
  }
  if (url !== undefined && !/^https?:\/\//i.test(url)) {
    throw invalidRequest("`media.url` must be an http:// or https:// URL.");
  }
  // §5 lists mimetype, filename and caption next to `media`; accept them inside it too, the media object winning.
  const extra = (key: string): string | undefined => optionalString(key in media ? media : body, key);
  const limit = kind === "document" ? MAX_DOCUMENT_BYTES : MAX_MEDIA_BYTES;
  const source: MediaSource = { limit };
  if (url !== undefined) source.url = url;
  if (encoded !== undefined) {
    // Checked here, not at send time, so a bad body is a 422/413 whatever the connection state.
    const cleaned = encoded.replace(/\s+/g, "");
    if (cleaned.length === 0 || cleaned.length % 4 === 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(cleaned)) {
      throw invalidRequest("`media.base64` is not valid base64.");
    }
    const size = Buffer.byteLength(cleaned, "base64");
    if (size > limit) throw new Problem(413, "media_too_large", `The media exceeds ${limit} bytes.`);
    if (size === 0) throw invalidRequest("`media.base64` is empty.");
    source.base64 = cleaned;
  }
  const mimetype = extra("mimetype");
  if (mimetype !== undefined) source.mimetype = mimetype;
  const filename = extra("filename");
  if (filename !== undefined) source.filename = filename;
  // WhatsApp shows captions on images, videos and documents only; elsewhere one is dropped, not an error.
  const caption = kind === "image" || kind === "video" || kind === "document" ? extra("caption") : undefined;
  if (caption !== undefined) source.caption = caption;
  return source;
}

function coordinate(value: unknown, name: string, bound: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > bound) {
    throw invalidRequest(`\`location.${name}\` must be a number between -${bound} and ${bound}.`);
  }
  return value;
}

function location(raw: unknown): Location {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw invalidRequest("`location` must be an object with `latitude` and `longitude`.");
  }
  const fields = raw as Record<string, unknown>;
  const out: Location = {
    latitude: coordinate(fields.latitude, "latitude", 90),
    longitude: coordinate(fields.longitude, "longitude", 180),
  };
  const name = optionalString(fields, "name", "location.");
  if (name !== undefined) out.name = name;
  const address = optionalString(fields, "address", "location.");
  if (address !== undefined) out.address = address;
  return out;
}

function contact(raw: unknown): ContactCard {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw invalidRequest("`contact` must be an object with `name` and `phones`.");
  }
  const fields = raw as Record<string, unknown>;
  const phones = fields.phones;
  if (!Array.isArray(phones) || phones.length === 0 || !phones.every((p) => typeof p === "string" && /[0-9]/.test(p))) {
    throw invalidRequest("`contact.phones` must be a non-empty list of phone numbers.");
  }
  const out: ContactCard = { name: nonEmpty(fields, "name", "contact."), phones: phones as string[] };
  const organization = optionalString(fields, "organization", "contact.");
  if (organization !== undefined) out.organization = organization;
  const email = optionalString(fields, "email", "contact.");
  if (email !== undefined) out.email = email;
  return out;
}

function poll(raw: unknown): { name: string; options: string[]; selectableCount: number } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw invalidRequest("`poll` must be an object with `name`, `options` and `selectable_count`.");
  }
  const fields = raw as Record<string, unknown>;
  const options = fields.options;
  if (
    !Array.isArray(options) ||
    options.length < 2 ||
    options.length > MAX_POLL_OPTIONS ||
    !options.every((o) => typeof o === "string" && o.length > 0) ||
    new Set(options).size !== options.length
  ) {
    throw invalidRequest(`\`poll.options\` must be 2 to ${MAX_POLL_OPTIONS} distinct non-empty strings.`);
  }
  const count = fields.selectable_count ?? 1;
  if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > options.length) {
    throw invalidRequest("`poll.selectable_count` must be an integer from 0 (any) to the number of options.");
  }
  return { name: nonEmpty(fields, "name", "poll."), options: options as string[], selectableCount: count };
}

// ---------------------------------------------------------------------------------------------------------------
// Building: what whatsapp-web.js is asked to send.

/** The subset of whatsapp-web.js's MessageSendOptions the worker sets. */
export interface SendOptions {
  caption?: string;
  quotedMessageId?: string;
  sendAudioAsVoice?: boolean;
  sendMediaAsSticker?: boolean;
  sendMediaAsDocument?: boolean;
  parseVCards?: boolean;
  linkPreview?: boolean;
}

export type Content =
  | { kind: "text"; text: string }
  | { kind: "media"; media: MediaSource; type: MediaType }
  | { kind: "location"; latitude: number; longitude: number; name?: string; address?: string }
  | { kind: "vcard"; vcard: string }
  | { kind: "poll"; name: string; options: string[]; allowMultipleAnswers: boolean };

export type Outgoing =
  | { action: "send"; chatId: string; content: Content; options: SendOptions }
  | { action: "react"; chatId: string; targets: string[]; emoji: string };

export function buildOutgoing(send: Send): Outgoing {
  const chatId = chatIdOf(send.to);
  const options: SendOptions = {};
  if (send.replyTo) options.quotedMessageId = send.replyTo;
  switch (send.type) {
    case "text":
      return {
        action: "send",
        chatId,
        content: { kind: "text", text: send.text ?? "" },
        options: { ...options, linkPreview: true },
      };
    case "image":
    case "video":
    case "audio":
    case "document":
    case "sticker": {
      const media = send.media!;
      if (media.caption) options.caption = media.caption;
      if (send.type === "document") options.sendMediaAsDocument = true;
      if (send.type === "sticker") options.sendMediaAsSticker = true;
      if (send.type === "audio" && send.voiceNote) options.sendAudioAsVoice = true;
      return { action: "send", chatId, content: { kind: "media", media, type: send.type }, options };
    }
    case "location": {
      const { latitude, longitude, name, address } = send.location!;
      const content: Content = { kind: "location", latitude, longitude };
      if (name !== undefined) content.name = name;
      if (address !== undefined) content.address = address;
      return { action: "send", chatId, content, options };
    }
    case "contact":
      // whatsapp-web.js sends a text that is a vCard as a contact card when parseVCards is on.
      return {
        action: "send",
        chatId,
        content: { kind: "vcard", vcard: buildVCard(send.contact!) },
        options: { ...options, parseVCards: true },
      };
    case "poll": {
      const { name, options: choices, selectableCount } = send.poll!;
      // WhatsApp Web polls are single-choice or "any number": a count above 1 allows several answers.
      return {
        action: "send",
        chatId,
        content: { kind: "poll", name, options: choices, allowMultipleAnswers: selectableCount !== 1 },
        options,
      };
    }
    case "reaction": {
      const { messageId, emoji } = send.reaction!;
      return { action: "react", chatId, targets: reactionTargets(messageId, chatId), emoji };
    }
  }
}

/**
 * whatsapp-web.js finds messages by their serialized id (`true_<chat>_<key id>`). A bare key id (`3EB0…`) is tried as
 * a received message first, then as one of ours.
 */
export function reactionTargets(messageId: string, chatId: string): string[] {
  if (/^(true|false)_/.test(messageId)) return [messageId];
  return [`false_${chatId}_${messageId}`, `true_${chatId}_${messageId}`];
}

function escapeVCard(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\r?\n/g, "\\n").replace(/,/g, "\\,").replace(/;/g, "\\;");
}

export function buildVCard(card: ContactCard): string {
  const lines = ["BEGIN:VCARD", "VERSION:3.0", `FN:${escapeVCard(card.name)}`];
  if (card.organization) lines.push(`ORG:${escapeVCard(card.organization)};`);
  for (const phone of card.phones) {
    const digits = phone.replace(/[^0-9]/g, "");
    // `waid` is what makes WhatsApp show the "Message" button for the number.
    lines.push(`TEL;type=CELL;type=VOICE;waid=${digits}:+${digits}`);
  }
  if (card.email) lines.push(`EMAIL;type=INTERNET:${escapeVCard(card.email)}`);
  lines.push("END:VCARD");
  return lines.join("\n");
}
