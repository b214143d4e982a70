// Baileys' messages, receipts and presences as the protocol's events (§6). Pure functions: the session supplies
// what they cannot know themselves (our own JIDs, LID↔phone mappings, which messages were sent through the API).

import { createHash } from "node:crypto";

import {
  getContentType,
  isJidGroup,
  isLidUser,
  isPnUser,
  jidDecode,
  jidNormalizedUser,
  normalizeMessageContent,
  proto,
  type MessageUserReceiptUpdate,
  type WAMessage,
  type WAMessageKey,
  type WAMessageUpdate,
} from "baileys";

export interface Person {
  phone: string | null;
  jid: string;
  lid: string | null;
  push_name?: string;
}

export interface Translated {
  type: string;
  data: Record<string, unknown>;
  /** Derived from the message, so one WhatsApp message delivered twice is one event at the control plane. */
  eventId: string;
  /** Inbound media the worker must remember to serve `GET /v1/media/{id}`. */
  media?: StoredMedia;
}

/** What downloading an inbound attachment needs later (the WhatsApp CDN reference, not the bytes). */
export interface StoredMedia {
  id: string;
  mediaType: "image" | "video" | "audio" | "document" | "sticker";
  mimetype: string;
  directPath?: string | null;
  url?: string | null;
  mediaKey?: Uint8Array | null;
  size: number;
}

export interface TranslateContext {
  instanceId: string;
  /** Phone-number JID ↔ LID, as far as the worker knows them. */
  lidFor?: (pnJid: string) => string | null | undefined;
  pnFor?: (lid: string) => string | null | undefined;
  /** The control plane's id of a message this worker sent, by its WhatsApp id. */
  clientIdFor?: (providerMessageId: string) => string | undefined;
}

const MEDIA_KINDS = {
  imageMessage: "image",
  videoMessage: "video",
  audioMessage: "audio",
  documentMessage: "document",
  stickerMessage: "sticker",
} as const;

export function eventIdFor(ctx: TranslateContext, ...parts: string[]): string {
  const digest = createHash("sha256")
    .update([ctx.instanceId, ...parts].join("\u0000"))
    .digest("hex")
    .slice(0, 32);
  return `evt_bl_${digest}`;
}

function userOf(jid: string): string {
  return jidDecode(jid)?.user ?? jid.split("@")[0]!.split(":")[0]!;
}

/** A Person from any of the JIDs WhatsApp gives for one user (phone-number JID, LID, either with a device). */
export function person(ctx: TranslateContext, jid: string, alt?: string | null, pushName?: string | null): Person {
  const ids = [jid, alt].filter((j): j is string => !!j).map((j) => jidNormalizedUser(j));
  let pn = ids.find((j) => isPnUser(j)) ?? null;
  let lid = ids.find((j) => isLidUser(j)) ?? null;
  if (!pn && lid) pn = ctx.pnFor?.(lid) ? jidNormalizedUser(ctx.pnFor(lid)!) : null;
  if (!lid && pn) lid = ctx.lidFor?.(pn) ? jidNormalizedUser(ctx.lidFor(pn)!) : null;
  const result: Person = { phone: pn ? userOf(pn) : null, jid: pn ?? lid ?? ids[0] ?? jid, lid };
  if (pushName) result.push_name = pushName;
  return result;
}

export function timestampOf(value: WAMessage["messageTimestamp"]): string {
  const seconds = typeof value === "number" ? value : value ? Number(value.toString()) : 0;
  return new Date((seconds > 0 ? seconds : Date.now() / 1000) * 1000).toISOString();
}

function toNumber(value: number | Long | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : Number(value.toString());
}
type Long = { toString(): string };

function hex(value: Uint8Array | string | null | undefined): string | null {
  if (!value) return null;
  return typeof value === "string" ? Buffer.from(value, "base64").toString("hex") : Buffer.from(value).toString("hex");
}

/** The chat a message belongs to, as the protocol names it: the phone-number JID where known, else the LID. */
function chatOf(ctx: TranslateContext, key: WAMessageKey): string {
  const remote = key.remoteJid ?? "";
  if (isJidGroup(remote)) return remote;
  return person(ctx, remote, key.remoteJidAlt).jid;
}

function senderOf(ctx: TranslateContext, msg: WAMessage, meJid: string | undefined): Person {
  const key = msg.key;
  const remote = key.remoteJid ?? "";
  if (key.fromMe) return person(ctx, meJid ?? remote, null, msg.pushName);
  if (isJidGroup(remote))
    return person(ctx, key.participant ?? msg.participant ?? remote, key.participantAlt, msg.pushName);
  return person(ctx, remote, key.remoteJidAlt, msg.pushName);
}

function parseVcard(vcard: string | null | undefined): {
  name?: string;
  phones: string[];
  organization?: string;
  email?: string;
} {
  const phones: string[] = [];
  const out: { name?: string; phones: string[]; organization?: string; email?: string } = { phones };
  for (const line of (vcard ?? "").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const head = line.slice(0, colon).toUpperCase();
    const value = line
      .slice(colon + 1)
      .replace(/\\([,;\\])/g, "$1")
      .trim();
    if (head === "FN") out.name = value;
    else if (head.startsWith("TEL")) {
      const waid = /WAID=(\d+)/.exec(head)?.[1];
      phones.push(waid ?? value.replace(/[^\d]/g, ""));
    } else if (head.startsWith("ORG")) out.organization = value.replace(/;+$/, "");
    else if (head.startsWith("EMAIL")) out.email = value;
  }
  return out;
}

/**
 * The event of one message from `messages.upsert`, or null for what customers do not see as a message (protocol
 * housekeeping, key distribution, history-sync notifications, status broadcasts).
 */
export function translateMessage(ctx: TranslateContext, msg: WAMessage, meJid?: string): Translated | null {
  const key = msg.key;
  const remote = key.remoteJid;
  if (
    !remote ||
    !key.id ||
    remote === "status@broadcast" ||
    remote.endsWith("@newsletter") ||
    remote.endsWith("@broadcast")
  ) {
    return null;
  }
  const content = normalizeMessageContent(msg.message);
  if (!content) return null;
  const kind = getContentType(content);
  if (!kind) return null;
  const chat = chatOf(ctx, key);
  const from = senderOf(ctx, msg, meJid);
  const isGroup = !!isJidGroup(remote);
  const timestamp = timestampOf(msg.messageTimestamp);
  const common = { chat, from, timestamp, is_group: isGroup };
  const ownEventId = (what: string): string => eventIdFor(ctx, what, remote, key.id!, key.fromMe ? "1" : "0");

  if (kind === "reactionMessage") {
    const reaction = content.reactionMessage!;
    return {
      type: "message.reaction",
      eventId: ownEventId("reaction"),
      data: { id: key.id, message_id: reaction.key?.id ?? null, emoji: reaction.text ?? "", ...common },
    };
  }
  if (kind === "protocolMessage") {
    const protocol = content.protocolMessage!;
    const target = protocol.key?.id;
    if (!target) return null;
    if (protocol.type === proto.Message.ProtocolMessage.Type.REVOKE) {
      return { type: "message.revoked", eventId: ownEventId("revoke"), data: { message_id: target, ...common } };
    }
    if (protocol.type === proto.Message.ProtocolMessage.Type.MESSAGE_EDIT) {
      const edited = normalizeMessageContent(protocol.editedMessage);
      const text =
        edited?.conversation ??
        edited?.extendedTextMessage?.text ??
        edited?.imageMessage?.caption ??
        edited?.videoMessage?.caption;
      const data: Record<string, unknown> = { message_id: target, ...common };
      if (text) data.text = text;
      return { type: "message.edited", eventId: ownEventId("edit"), data };
    }
    return null;
  }

  const data: Record<string, unknown> = { id: key.id, chat, from, type: "unknown", timestamp };
  let media: StoredMedia | undefined;
  let contextInfo: proto.IContextInfo | null | undefined;
  switch (kind) {
    case "conversation":
      data.type = "text";
      data.text = content.conversation;
      break;
    case "extendedTextMessage":
      data.type = "text";
      data.text = content.extendedTextMessage!.text ?? "";
      contextInfo = content.extendedTextMessage!.contextInfo;
      break;
    case "imageMessage":
    case "videoMessage":
    case "audioMessage":
    case "documentMessage":
    case "stickerMessage": {
      const attachment = content[kind]!;
      const mediaType = MEDIA_KINDS[kind];
      data.type = mediaType;
      contextInfo = attachment.contextInfo;
      const sha256 = hex(attachment.fileSha256);
      const mimetype = attachment.mimetype ?? "application/octet-stream";
      const size = toNumber(attachment.fileLength);
      const described: Record<string, unknown> = { mimetype, size, sha256 };
      if ("fileName" in attachment && attachment.fileName) described.filename = attachment.fileName;
      if ("caption" in attachment && attachment.caption) described.caption = attachment.caption;
      if (kind === "audioMessage") data.voice_note = !!content.audioMessage!.ptt;
      if (sha256) {
        described.download = `/v1/media/${sha256}`;
        media = {
          id: sha256,
          mediaType,
          mimetype,
          directPath: attachment.directPath ?? null,
          url: attachment.url ?? null,
          mediaKey: attachment.mediaKey ?? null,
          size,
        };
      }
      data.media = described;
      break;
    }
    case "locationMessage":
    case "liveLocationMessage": {
      const location = content[kind]!;
      data.type = "location";
      contextInfo = location.contextInfo;
      const described: Record<string, unknown> = {
        latitude: location.degreesLatitude ?? 0,
        longitude: location.degreesLongitude ?? 0,
      };
      if ("name" in location && location.name) described.name = location.name;
      if ("address" in location && location.address) described.address = location.address;
      data.location = described;
      break;
    }
    case "contactMessage":
    case "contactsArrayMessage": {
      const first = kind === "contactMessage" ? content.contactMessage! : content.contactsArrayMessage!.contacts?.[0];
      contextInfo =
        kind === "contactMessage" ? content.contactMessage!.contextInfo : content.contactsArrayMessage!.contextInfo;
      data.type = "contact";
      const parsed = parseVcard(first?.vcard);
      const contact: Record<string, unknown> = { name: first?.displayName ?? parsed.name ?? "", phones: parsed.phones };
      if (parsed.organization) contact.organization = parsed.organization;
      if (parsed.email) contact.email = parsed.email;
      data.contact = contact;
      break;
    }
    case "pollCreationMessage":
    case "pollCreationMessageV2":
    case "pollCreationMessageV3":
    case "pollCreationMessageV5": {
      const poll = content[kind]!;
      contextInfo = poll.contextInfo;
      data.type = "poll";
      data.poll = {
        name: poll.name ?? "",
        options: (poll.options ?? []).map((o) => o.optionName ?? ""),
        selectable_count: poll.selectableOptionsCount ?? 0,
      };
      break;
    }
    case "senderKeyDistributionMessage":
    case "messageContextInfo":
    case "pollUpdateMessage":
    case "keepInChatMessage":
    case "pinInChatMessage":
    case "encReactionMessage":
    case "callLogMesssage":
    case "botInvokeMessage":
      return null;
    default:
      // Shown to customers as a message of an unknown type rather than dropped: something did arrive.
      data.content_type = kind;
  }
  if (contextInfo?.stanzaId) data.reply_to = contextInfo.stanzaId;
  data.is_group = isGroup;
  const translated: Translated = {
    type: key.fromMe ? "message.sent" : "message.received",
    eventId: ownEventId("message"),
    data,
  };
  if (media) translated.media = media;
  return translated;
}

const RECEIPT_STATUS: Record<number, string> = {
  [proto.WebMessageInfo.Status.ERROR]: "failed",
  [proto.WebMessageInfo.Status.SERVER_ACK]: "sent",
  [proto.WebMessageInfo.Status.DELIVERY_ACK]: "delivered",
  [proto.WebMessageInfo.Status.READ]: "read",
  [proto.WebMessageInfo.Status.PLAYED]: "played",
};

function statusEvent(ctx: TranslateContext, key: WAMessageKey, status: string, recipient: Person): Translated {
  const data: Record<string, unknown> = {
    id: ctx.clientIdFor?.(key.id!) ?? null,
    provider_message_id: key.id,
    status,
    recipient,
  };
  if (status === "failed")
    data.error = { code: "delivery_failed", message: "WhatsApp reported the message as failed." };
  return {
    type: "message.status",
    eventId: eventIdFor(ctx, "status", key.remoteJid ?? "", key.id!, status, recipient.jid),
    data,
  };
}

/** `messages.update` carries the status of our own messages in one-to-one chats (and the sender's ack in groups). */
export function translateMessageUpdate(ctx: TranslateContext, update: WAMessageUpdate): Translated | null {
  const { key } = update;
  const code = update.update.status;
  if (!key.fromMe || !key.id || !key.remoteJid || code === null || code === undefined) return null;
  const status = RECEIPT_STATUS[code];
  if (!status) return null;
  return statusEvent(ctx, key, status, person(ctx, key.remoteJid, key.remoteJidAlt));
}

/** `message-receipt.update`: per-recipient receipts, which is how group members' deliveries and reads arrive. */
export function translateReceipt(ctx: TranslateContext, update: MessageUserReceiptUpdate): Translated | null {
  const { key, receipt } = update;
  if (!key.fromMe || !key.id || !key.remoteJid || !receipt.userJid) return null;
  const status = receipt.playedTimestamp
    ? "played"
    : receipt.readTimestamp
      ? "read"
      : receipt.receiptTimestamp
        ? "delivered"
        : null;
  if (!status) return null;
  return statusEvent(ctx, key, status, person(ctx, receipt.userJid));
}

const PRESENCE_STATE: Record<string, string> = {
  available: "available",
  unavailable: "unavailable",
  composing: "composing",
  recording: "recording",
  paused: "paused",
};

/** `presence.update`: one event per participant whose presence changed. */
export function translatePresence(
  ctx: TranslateContext,
  update: { id: string; presences: { [participant: string]: { lastKnownPresence: string } } },
): Translated[] {
  const chat = isJidGroup(update.id) ? update.id : person(ctx, update.id).jid;
  const out: Translated[] = [];
  for (const [participant, presence] of Object.entries(update.presences)) {
    const state = PRESENCE_STATE[presence.lastKnownPresence];
    if (!state) continue;
    const from = person(ctx, participant);
    // Presence changes repeat with no id of their own: a fresh event each time is right.
    out.push({ type: "presence.update", eventId: "", data: { chat, from, state } });
  }
  return out;
}
