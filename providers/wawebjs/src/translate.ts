// From whatsapp-web.js's objects (Message, its ack, Reaction, Call) to the protocol's public event data (§6).
//
// Pure functions over the fields whatsapp-web.js fills in (`Message._patch` and friends), typed structurally so the
// unit tests can feed the library's real classes built from WhatsApp Web's raw message data.

export interface Person {
  phone: string | null;
  jid: string;
  lid: string | null;
  push_name?: string;
}

/** The fields of whatsapp-web.js's `MessageId`. */
export interface WMessageId {
  fromMe: boolean;
  remote: string | { _serialized: string };
  id: string;
  participant?: string | { _serialized: string };
  _serialized: string;
}

/** The fields of whatsapp-web.js's `Message` the worker reads. */
export interface WMessage {
  id: WMessageId;
  from: string;
  to: string;
  author?: string;
  type: string;
  timestamp: number;
  body: string;
  hasMedia: boolean;
  fromMe: boolean;
  location?: {
    latitude: string | number;
    longitude: string | number;
    name?: string;
    address?: string;
    description?: string;
  };
  vCards: string[];
  _data?: Record<string, unknown>;
}

export interface WReaction {
  id: WMessageId;
  msgId: WMessageId;
  senderId: string;
  reaction: string;
  timestamp: number;
}

export interface WCall {
  id: string;
  from?: string;
  isVideo: boolean;
  isGroup?: boolean;
}

export const ACK_STATUS: Readonly<Record<number, "failed" | "sent" | "delivered" | "read" | "played">> = {
  [-1]: "failed",
  1: "sent",
  2: "delivered",
  3: "read",
  4: "played",
};

/** The protocol status of a whatsapp-web.js `MessageAck`, or null for one that says nothing yet (pending). */
export function ackStatus(ack: number | undefined): (typeof ACK_STATUS)[number] | null {
  return ack === undefined ? null : (ACK_STATUS[ack] ?? null);
}

function serialized(value: string | { _serialized: string } | undefined): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : value._serialized;
}

/** `…@c.us` is whatsapp-web.js's name for what the protocol (and WhatsApp itself) calls `…@s.whatsapp.net`. */
export function protocolJid(wid: string): string {
  const [user = "", server = ""] = wid.split("@");
  if (server === "c.us" || server === "s.whatsapp.net") return `${user.split(":")[0]}@s.whatsapp.net`;
  return wid;
}

export function personOf(wid: string | undefined, pushName?: unknown): Person {
  const id = wid ?? "";
  const [user = "", server = ""] = id.split("@");
  let person: Person;
  if (server === "c.us" || server === "s.whatsapp.net") {
    const phone = user.split(":")[0] ?? "";
    person = { phone, jid: `${phone}@s.whatsapp.net`, lid: null };
  } else if (server === "lid") {
    // WhatsApp hides the number behind the LID; the LID is the only address there is.
    person = { phone: null, jid: id, lid: id };
  } else {
    person = { phone: null, jid: id, lid: null };
  }
  if (typeof pushName === "string" && pushName) person.push_name = pushName;
  return person;
}

const TYPES: Readonly<Record<string, string>> = {
  chat: "text",
  image: "image",
  video: "video",
  audio: "audio",
  ptt: "audio",
  document: "document",
  sticker: "sticker",
  location: "location",
  vcard: "contact",
  multi_vcard: "contact",
  poll_creation: "poll",
};

/** Hex sha256 from WhatsApp's base64 `filehash` (the hash of the decrypted file). */
export function hexHash(filehash: unknown): string | null {
  if (typeof filehash !== "string" || !filehash) return null;
  const bytes = Buffer.from(filehash, "base64");
  return bytes.length === 32 ? bytes.toString("hex") : null;
}

function unescapeVCard(value: string): string {
  return value.replace(/\\n/gi, "\n").replace(/\\([,;\\])/g, "$1");
}

/** The protocol's contact from a vCard: its formatted name, phones, organisation and e-mail. */
export function parseVCard(vcard: string): { name: string; phones: string[]; organization?: string; email?: string } {
  const out: { name: string; phones: string[]; organization?: string; email?: string } = { name: "", phones: [] };
  // Folded lines (RFC 6350 §3.2) continue with a space or a tab.
  for (const line of vcard.replace(/\r?\n[ \t]/g, "").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const [property = "", ...params] = line.slice(0, colon).split(";");
    const value = line.slice(colon + 1);
    switch (property.toUpperCase()) {
      case "FN":
        out.name = unescapeVCard(value);
        break;
      case "TEL": {
        const waid = params.map((p) => /^waid=(\d+)$/i.exec(p)?.[1]).find((w) => w !== undefined);
        const digits = waid ?? value.replace(/[^0-9]/g, "");
        if (digits) out.phones.push(digits);
        break;
      }
      case "ORG": {
        const organization = unescapeVCard(value.replace(/;+$/, ""));
        if (organization) out.organization = organization;
        break;
      }
      case "EMAIL":
        if (value) out.email = unescapeVCard(value);
        break;
    }
  }
  return out;
}

export interface TranslateContext {
  /** The account's own whatsapp-web.js id (`…@c.us`), to tell quotes of our own messages from others'. */
  me?: string;
  /** The media id under which the worker serves a message's media (`GET /v1/media/{id}`). */
  mediaId: (providerMessageId: string) => string;
}

/** `message.received` (or `message.sent`, for messages from the account's other devices) data of a Message. */
export function messageData(message: WMessage, context: TranslateContext): Record<string, unknown> {
  const raw = message._data ?? {};
  const chat = serialized(message.id.remote) || (message.fromMe ? message.to : message.from);
  const isGroup = chat.endsWith("@g.us");
  const sender = message.fromMe
    ? context.me
    : isGroup
      ? message.author || serialized(message.id.participant)
      : message.from;
  const type = TYPES[message.type] ?? "unknown";
  const data: Record<string, unknown> = {
    id: message.id._serialized,
    chat: protocolJid(chat),
    from: personOf(sender, message.fromMe ? undefined : raw.notifyName),
    type,
    timestamp: new Date(message.timestamp * 1000).toISOString(),
    is_group: isGroup,
  };
  // Types the protocol has no name for say what WhatsApp Web called them.
  if (type === "unknown") data.engine_type = message.type;
  if (type === "text" || (type === "unknown" && message.body)) data.text = message.body;
  if (message.hasMedia) {
    const media: Record<string, unknown> = {
      mimetype: typeof raw.mimetype === "string" ? raw.mimetype : "application/octet-stream",
      size: typeof raw.size === "number" ? raw.size : null,
      sha256: hexHash(raw.filehash),
      download: `/v1/media/${context.mediaId(message.id._serialized)}`,
    };
    if (typeof raw.filename === "string" && raw.filename) media.filename = raw.filename;
    if (message.body) media.caption = message.body;
    data.media = media;
    if (message.type === "ptt") data.voice_note = true;
  }
  if (type === "location" && message.location) {
    const location: Record<string, unknown> = {
      latitude: Number(message.location.latitude),
      longitude: Number(message.location.longitude),
    };
    if (message.location.name) location.name = message.location.name;
    if (message.location.address) location.address = message.location.address;
    data.location = location;
  }
  if (type === "contact" && message.vCards.length > 0) {
    data.contact = parseVCard(message.vCards[0]!);
    if (message.vCards.length > 1) data.contacts = message.vCards.map(parseVCard);
  }
  if (type === "poll") {
    const options = Array.isArray(raw.pollOptions) ? raw.pollOptions : [];
    data.poll = {
      name: typeof raw.pollName === "string" ? raw.pollName : message.body,
      options: options.map((o: unknown) =>
        typeof o === "object" && o !== null ? String((o as { name?: unknown }).name ?? "") : "",
      ),
      selectable_count: typeof raw.pollSelectableOptionsCount === "number" ? raw.pollSelectableOptionsCount : 0,
    };
  }
  const quoted = quotedId(message, chat, context.me);
  if (quoted) data.reply_to = quoted;
  return data;
}

/** The serialized id of the message this one quotes, built the way whatsapp-web.js builds message ids. */
function quotedId(message: WMessage, chat: string, me: string | undefined): string | null {
  const raw = message._data ?? {};
  const stanza = raw.quotedStanzaID;
  if (typeof stanza !== "string" || !stanza) return null;
  const participant = serialized(raw.quotedParticipant as string | { _serialized: string } | undefined);
  const mine = me !== undefined && participant !== "" && participant.split("@")[0] === me.split("@")[0];
  if (chat.endsWith("@g.us") && participant && !mine) return `false_${chat}_${stanza}_${participant}`;
  return `${mine}_${chat}_${stanza}`;
}

/** `message.status` data of an ack, or null for acks that carry no news (pending). */
export function statusData(
  message: Pick<WMessage, "id" | "to" | "from" | "fromMe">,
  ack: number,
  clientId: string | undefined,
): Record<string, unknown> | null {
  const status = ackStatus(ack);
  if (status === null) return null;
  const data: Record<string, unknown> = {
    provider_message_id: message.id._serialized,
    status,
    recipient: personOf(message.fromMe ? message.to || serialized(message.id.remote) : message.from),
  };
  if (clientId !== undefined) data.id = clientId;
  if (status === "failed") data.error = "WhatsApp did not accept the message";
  return data;
}

export function reactionData(reaction: WReaction): Record<string, unknown> {
  return {
    message_id: reaction.msgId._serialized,
    chat: protocolJid(serialized(reaction.msgId.remote)),
    from: personOf(reaction.senderId),
    emoji: reaction.reaction,
    removed: reaction.reaction === "",
    timestamp: new Date(reaction.timestamp * (reaction.timestamp > 1e12 ? 1 : 1000)).toISOString(),
  };
}

export function callData(call: WCall): Record<string, unknown> {
  return { call_id: call.id, from: personOf(call.from), video: call.isVideo, is_group: Boolean(call.isGroup) };
}
