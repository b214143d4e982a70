// Baileys' real protobuf messages (proto.WebMessageInfo, encoded to the wire and decoded back, so timestamps are
// Longs and bytes Uint8Arrays exactly as Baileys hands them over) through the worker's translation.

import assert from "node:assert/strict";
import { test } from "node:test";

import { proto, type WAMessage, type WAMessageKey } from "baileys";

import {
  translateMessage,
  translateMessageUpdate,
  translatePresence,
  translateReceipt,
  type TranslateContext,
} from "../src/translate.js";

const PN = "4915112345678@s.whatsapp.net";
const LID = "987654321098765@lid";
const GROUP = "120363040000000000@g.us";
const ME = "14155550100@s.whatsapp.net";
const TS = 1764151200; // 2025-11-26T10:00:00Z

const ctx: TranslateContext = {
  instanceId: "ins_TEST",
  lidFor: (pn) => (pn === PN ? LID : null),
  pnFor: (lid) => (lid === LID ? PN : null),
  clientIdFor: (id) => (id === "msg_01JDCLIENT" ? "msg_01JDCLIENT" : undefined),
};

/** A WebMessageInfo as it comes off the wire, plus the key fields Baileys adds beside the protobuf (LID/PN alt). */
function wire(object: Record<string, unknown>, keyExtras: Partial<WAMessageKey> = {}): WAMessage {
  const encoded = proto.WebMessageInfo.encode(
    proto.WebMessageInfo.fromObject({ messageTimestamp: TS, ...object }),
  ).finish();
  const decoded = proto.WebMessageInfo.decode(encoded) as WAMessage;
  Object.assign(decoded.key, keyExtras);
  return decoded;
}

test("a text from a contact known by LID carries both the phone number and the LID", () => {
  const msg = wire(
    { key: { remoteJid: LID, fromMe: false, id: "3EB0AAAA" }, pushName: "Jana", message: { conversation: "Hallo" } },
    { remoteJidAlt: PN },
  );
  const out = translateMessage(ctx, msg, ME)!;
  assert.equal(out.type, "message.received");
  assert.deepEqual(out.data, {
    id: "3EB0AAAA",
    chat: PN,
    from: { phone: "4915112345678", jid: PN, lid: LID, push_name: "Jana" },
    type: "text",
    timestamp: "2025-11-26T10:00:00.000Z",
    text: "Hallo",
    is_group: false,
  });
  assert.match(out.eventId, /^evt_bl_[0-9a-f]{32}$/);
  assert.equal(translateMessage(ctx, msg, ME)!.eventId, out.eventId, "one message, one event id");
});

test("a quoted reply in a group: sender from the participant, chat is the group, reply_to the quoted id", () => {
  const msg = wire(
    {
      key: { remoteJid: GROUP, fromMe: false, id: "3A11", participant: LID },
      message: { extendedTextMessage: { text: "yes", contextInfo: { stanzaId: "3EB0QUOTED", participant: ME } } },
    },
    { participantAlt: PN },
  );
  const out = translateMessage(ctx, msg, ME)!;
  assert.equal(out.data.chat, GROUP);
  assert.equal(out.data.is_group, true);
  assert.equal(out.data.reply_to, "3EB0QUOTED");
  assert.deepEqual(out.data.from, { phone: "4915112345678", jid: PN, lid: LID });
});

test("a phone-number sender without an alt gets its LID from what the worker learned", () => {
  const msg = wire({
    key: { remoteJid: "4915112345678:3@s.whatsapp.net", fromMe: false, id: "X1" },
    message: { conversation: "hi" },
  });
  const out = translateMessage(ctx, msg, ME)!;
  assert.deepEqual(out.data.from, { phone: "4915112345678", jid: PN, lid: LID });
});

test("an image becomes media with size, hex sha256 and a download path, and is remembered for download", () => {
  const sha = Buffer.alloc(32, 0xab);
  const msg = wire({
    key: { remoteJid: PN, fromMe: false, id: "IMG1" },
    message: {
      imageMessage: {
        mimetype: "image/jpeg",
        caption: "look",
        fileSha256: sha,
        fileEncSha256: Buffer.alloc(32, 1),
        fileLength: 52_341,
        mediaKey: Buffer.alloc(32, 2),
        directPath: "/v/t62.7118-24/abc",
        url: "https://mmg.whatsapp.net/v/t62.7118-24/abc",
      },
    },
  });
  const out = translateMessage(ctx, msg, ME)!;
  const hex = sha.toString("hex");
  assert.equal(out.data.type, "image");
  assert.deepEqual(out.data.media, {
    mimetype: "image/jpeg",
    size: 52_341,
    sha256: hex,
    caption: "look",
    download: `/v1/media/${hex}`,
  });
  assert.equal(out.media?.id, hex);
  assert.equal(out.media?.mediaType, "image");
  assert.equal(out.media?.directPath, "/v/t62.7118-24/abc");
  assert.deepEqual(Buffer.from(out.media!.mediaKey!), Buffer.alloc(32, 2));
});

test("a voice note, a document and a sticker", () => {
  const voice = translateMessage(
    ctx,
    wire({
      key: { remoteJid: PN, id: "V1" },
      message: {
        audioMessage: {
          mimetype: "audio/ogg; codecs=opus",
          ptt: true,
          seconds: 4,
          fileSha256: Buffer.alloc(32, 3),
          fileLength: 9000,
        },
      },
    }),
    ME,
  )!;
  assert.equal(voice.data.type, "audio");
  assert.equal(voice.data.voice_note, true);
  const document = translateMessage(
    ctx,
    wire({
      key: { remoteJid: PN, id: "D1" },
      message: {
        documentWithCaptionMessage: {
          message: {
            documentMessage: {
              mimetype: "application/pdf",
              fileName: "invoice.pdf",
              caption: "Nov",
              fileSha256: Buffer.alloc(32, 4),
              fileLength: 1,
            },
          },
        },
      },
    }),
    ME,
  )!;
  assert.equal(document.data.type, "document");
  assert.deepEqual(document.data.media, {
    mimetype: "application/pdf",
    size: 1,
    sha256: Buffer.alloc(32, 4).toString("hex"),
    filename: "invoice.pdf",
    caption: "Nov",
    download: `/v1/media/${Buffer.alloc(32, 4).toString("hex")}`,
  });
  const sticker = translateMessage(
    ctx,
    wire({
      key: { remoteJid: PN, id: "S1" },
      message: { stickerMessage: { mimetype: "image/webp", fileSha256: Buffer.alloc(32, 5) } },
    }),
    ME,
  )!;
  assert.equal(sticker.data.type, "sticker");
});

test("location, contact card and poll", () => {
  const location = translateMessage(
    ctx,
    wire({
      key: { remoteJid: PN, id: "L1" },
      message: {
        locationMessage: { degreesLatitude: 52.37, degreesLongitude: 4.89, name: "Dam", address: "Amsterdam" },
      },
    }),
    ME,
  )!;
  assert.deepEqual(location.data.location, { latitude: 52.37, longitude: 4.89, name: "Dam", address: "Amsterdam" });
  const vcard =
    "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nORG:Analytical\\, Ltd;\nTEL;type=CELL;type=VOICE;waid=14155550199:+1 415-555-0199\nEND:VCARD";
  const contact = translateMessage(
    ctx,
    wire({ key: { remoteJid: PN, id: "C1" }, message: { contactMessage: { displayName: "Ada Lovelace", vcard } } }),
    ME,
  )!;
  assert.deepEqual(contact.data.contact, {
    name: "Ada Lovelace",
    phones: ["14155550199"],
    organization: "Analytical, Ltd",
  });
  const poll = translateMessage(
    ctx,
    wire({
      key: { remoteJid: PN, id: "P1" },
      message: {
        pollCreationMessageV3: {
          name: "Lunch?",
          options: [{ optionName: "pizza" }, { optionName: "sushi" }],
          selectableOptionsCount: 1,
        },
      },
    }),
    ME,
  )!;
  assert.deepEqual(poll.data.poll, { name: "Lunch?", options: ["pizza", "sushi"], selectable_count: 1 });
});

test("a message in a disappearing chat is unwrapped", () => {
  const out = translateMessage(
    ctx,
    wire({ key: { remoteJid: PN, id: "E1" }, message: { ephemeralMessage: { message: { conversation: "poof" } } } }),
    ME,
  )!;
  assert.equal(out.data.text, "poof");
});

test("reactions, revokes and edits become their own event types", () => {
  const reaction = translateMessage(
    ctx,
    wire({
      key: { remoteJid: PN, id: "R1" },
      message: {
        reactionMessage: {
          key: { remoteJid: PN, fromMe: true, id: "3EB0MINE" },
          text: "👍",
          senderTimestampMs: TS * 1000,
        },
      },
    }),
    ME,
  )!;
  assert.equal(reaction.type, "message.reaction");
  assert.equal(reaction.data.message_id, "3EB0MINE");
  assert.equal(reaction.data.emoji, "👍");
  const revoke = translateMessage(
    ctx,
    wire({
      key: { remoteJid: PN, id: "RV1" },
      message: {
        protocolMessage: { type: proto.Message.ProtocolMessage.Type.REVOKE, key: { remoteJid: PN, id: "3A0LD" } },
      },
    }),
    ME,
  )!;
  assert.equal(revoke.type, "message.revoked");
  assert.equal(revoke.data.message_id, "3A0LD");
  const edit = translateMessage(
    ctx,
    wire({
      key: { remoteJid: PN, id: "ED1" },
      message: {
        protocolMessage: {
          type: proto.Message.ProtocolMessage.Type.MESSAGE_EDIT,
          key: { remoteJid: PN, id: "3A0LD" },
          editedMessage: { conversation: "fixed" },
        },
      },
    }),
    ME,
  )!;
  assert.equal(edit.type, "message.edited");
  assert.equal(edit.data.text, "fixed");
});

test("own messages from another device are message.sent, from us", () => {
  const out = translateMessage(
    ctx,
    wire({ key: { remoteJid: PN, fromMe: true, id: "3A00PHONE" }, message: { conversation: "from my phone" } }),
    ME,
  )!;
  assert.equal(out.type, "message.sent");
  assert.equal((out.data.from as { jid: string }).jid, ME);
});

test("housekeeping and status broadcasts are not messages", () => {
  assert.equal(
    translateMessage(
      ctx,
      wire({ key: { remoteJid: PN, id: "K1" }, message: { senderKeyDistributionMessage: { groupId: GROUP } } }),
      ME,
    ),
    null,
  );
  assert.equal(
    translateMessage(
      ctx,
      wire({ key: { remoteJid: "status@broadcast", id: "ST1", participant: PN }, message: { conversation: "story" } }),
      ME,
    ),
    null,
  );
  assert.equal(
    translateMessage(
      ctx,
      wire({
        key: { remoteJid: PN, id: "H1" },
        message: { protocolMessage: { type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION } },
      }),
      ME,
    ),
    null,
  );
});

test("server acks and receipts of our messages become message.status with our id", () => {
  const key: WAMessageKey = { remoteJid: PN, fromMe: true, id: "msg_01JDCLIENT" };
  const delivered = translateMessageUpdate(ctx, { key, update: { status: proto.WebMessageInfo.Status.DELIVERY_ACK } })!;
  assert.deepEqual(delivered.data, {
    id: "msg_01JDCLIENT",
    provider_message_id: "msg_01JDCLIENT",
    status: "delivered",
    recipient: { phone: "4915112345678", jid: PN, lid: LID },
  });
  assert.equal(
    translateMessageUpdate(ctx, { key, update: { status: proto.WebMessageInfo.Status.READ } })!.data.status,
    "read",
  );
  assert.equal(
    translateMessageUpdate(ctx, { key, update: { status: proto.WebMessageInfo.Status.PLAYED } })!.data.status,
    "played",
  );
  const failed = translateMessageUpdate(ctx, { key, update: { status: proto.WebMessageInfo.Status.ERROR } })!;
  assert.equal(failed.data.status, "failed");
  assert.ok(failed.data.error);
  // Not ours: no status event; an unknown id has a null `id`.
  assert.equal(translateMessageUpdate(ctx, { key: { ...key, fromMe: false }, update: { status: 3 } }), null);
  assert.equal(translateMessageUpdate(ctx, { key: { ...key, id: "3EB0OTHER" }, update: { status: 3 } })!.data.id, null);

  const receipt = proto.UserReceipt.decode(
    proto.UserReceipt.encode({ userJid: LID, receiptTimestamp: TS, readTimestamp: TS + 5 }).finish(),
  );
  const read = translateReceipt(ctx, { key: { remoteJid: GROUP, fromMe: true, id: "msg_01JDCLIENT" }, receipt })!;
  assert.equal(read.data.status, "read");
  assert.deepEqual(read.data.recipient, { phone: "4915112345678", jid: PN, lid: LID });
});

test("presence updates, one per participant", () => {
  const out = translatePresence(ctx, { id: GROUP, presences: { [LID]: { lastKnownPresence: "composing" } } });
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]!.data, {
    chat: GROUP,
    from: { phone: "4915112345678", jid: PN, lid: LID },
    state: "composing",
  });
});
