// Translation of whatsapp-web.js's own objects (Message, its acks, Reaction, Call) into the protocol's event data.
// The objects are the library's real classes, built from raw WhatsApp Web message data as the page hands it over.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import wwebjs from "whatsapp-web.js";
import {
  ackStatus,
  callData,
  messageData,
  parseVCard,
  personOf,
  protocolJid,
  reactionData,
  statusData,
  type WCall,
  type WMessage,
  type WReaction,
} from "../translate.js";

const require = createRequire(import.meta.url);
type Structure = new (client: unknown, data: Record<string, unknown>) => unknown;
const Reaction = require("whatsapp-web.js/src/structures/Reaction.js") as Structure;
const Call = require("whatsapp-web.js/src/structures/Call.js") as Structure;
// Exported at run time; the typings declare Message as an interface only.
const Message = (wwebjs as unknown as { Message: Structure }).Message;

const client = {}; // the structures keep a client reference; translation never uses it
const ME = "14155550100@c.us";
const context = { me: ME, mediaId: (id: string) => `med_${id.length}` };

function key(fromMe: boolean, remote: string, id: string, participant?: string): Record<string, unknown> {
  const serialized = `${fromMe}_${remote}_${id}${participant ? `_${participant}` : ""}`;
  return { fromMe, remote, id, participant, _serialized: serialized };
}

function message(data: Record<string, unknown>): WMessage {
  const base = { t: 1764151200, ack: 1, type: "chat", body: "", ...data };
  return new Message(client, base) as WMessage;
}

describe("people and JIDs", () => {
  it("turns whatsapp-web.js's @c.us ids into phone numbers and @s.whatsapp.net JIDs", () => {
    assert.deepEqual(personOf("31612345678@c.us", "Ada"), {
      phone: "31612345678",
      jid: "31612345678@s.whatsapp.net",
      lid: null,
      push_name: "Ada",
    });
    assert.equal(protocolJid("31612345678@c.us"), "31612345678@s.whatsapp.net");
    assert.equal(protocolJid("120363025246125486@g.us"), "120363025246125486@g.us");
  });

  it("keeps a LID as both jid and lid, with no phone (WhatsApp hid it)", () => {
    assert.deepEqual(personOf("123456789012345@lid"), {
      phone: null,
      jid: "123456789012345@lid",
      lid: "123456789012345@lid",
    });
  });
});

describe("message.received from a whatsapp-web.js Message", () => {
  it("translates a text from a contact, with push name and time", () => {
    const msg = message({
      id: key(false, "31612345678@c.us", "3EB0C767D26A1D3F5A8B"),
      from: "31612345678@c.us",
      to: ME,
      body: "Hello there",
      notifyName: "Ada",
    });
    assert.deepEqual(messageData(msg, context), {
      id: "false_31612345678@c.us_3EB0C767D26A1D3F5A8B",
      chat: "31612345678@s.whatsapp.net",
      from: { phone: "31612345678", jid: "31612345678@s.whatsapp.net", lid: null, push_name: "Ada" },
      type: "text",
      timestamp: "2025-11-26T10:00:00.000Z",
      is_group: false,
      text: "Hello there",
    });
  });

  it("takes the sender of a group message from its author and builds the quoted message's id", () => {
    const group = "120363025246125486@g.us";
    const msg = message({
      id: key(false, group, "ABCDEF0123", "31611111111@c.us"),
      from: group,
      to: ME,
      author: "31611111111@c.us",
      body: "agreed",
      quotedStanzaID: "3EB0QUOTED",
      quotedParticipant: "31622222222@c.us",
    });
    const data = messageData(msg, context);
    assert.equal(data.chat, group);
    assert.equal(data.is_group, true);
    assert.deepEqual(data.from, { phone: "31611111111", jid: "31611111111@s.whatsapp.net", lid: null });
    assert.equal(data.reply_to, `false_${group}_3EB0QUOTED_31622222222@c.us`);
  });

  it("marks a quote of one of our own messages as ours", () => {
    const msg = message({
      id: key(false, "31612345678@c.us", "X1"),
      from: "31612345678@c.us",
      to: ME,
      body: "yes",
      quotedStanzaID: "3EB0MINE",
      quotedParticipant: ME,
    });
    assert.equal(messageData(msg, context).reply_to, "true_31612345678@c.us_3EB0MINE");
  });

  it("describes media without inlining it: type, size, hex sha256, caption and where to fetch it", () => {
    const sha = Buffer.alloc(32, 7);
    const msg = message({
      id: key(false, "31612345678@c.us", "IMG1"),
      from: "31612345678@c.us",
      to: ME,
      type: "image",
      directPath: "/v/t62.7118-24/abc",
      mimetype: "image/jpeg",
      size: 52344,
      filehash: sha.toString("base64"),
      caption: "the view",
      body: "/9j/4AAQSkZJRg==",
    });
    const data = messageData(msg, context);
    assert.equal(data.type, "image");
    assert.equal(data.text, undefined);
    assert.deepEqual(data.media, {
      mimetype: "image/jpeg",
      size: 52344,
      sha256: sha.toString("hex"),
      caption: "the view",
      download: `/v1/media/med_${"false_31612345678@c.us_IMG1".length}`,
    });
  });

  it("turns a push-to-talk message into an audio voice note, and a document keeps its file name", () => {
    const ptt = message({
      id: key(false, "31612345678@c.us", "PTT1"),
      from: "31612345678@c.us",
      to: ME,
      type: "ptt",
      directPath: "/v/x",
      mimetype: "audio/ogg; codecs=opus",
      size: 5000,
      duration: 3,
    });
    const voice = messageData(ptt, context);
    assert.equal(voice.type, "audio");
    assert.equal(voice.voice_note, true);
    const doc = message({
      id: key(false, "31612345678@c.us", "DOC1"),
      from: "31612345678@c.us",
      to: ME,
      type: "document",
      directPath: "/v/y",
      mimetype: "application/pdf",
      size: 1000,
      filename: "invoice.pdf",
    });
    assert.equal((messageData(doc, context).media as Record<string, unknown>).filename, "invoice.pdf");
  });

  it("reads a location's name and address from WhatsApp Web's two-line description", () => {
    const msg = message({
      id: key(false, "31612345678@c.us", "LOC1"),
      from: "31612345678@c.us",
      to: ME,
      type: "location",
      lat: 52.3731,
      lng: 4.8926,
      loc: "Dam Square\nAmsterdam, Netherlands",
    });
    assert.deepEqual(messageData(msg, context).location, {
      latitude: 52.3731,
      longitude: 4.8926,
      name: "Dam Square",
      address: "Amsterdam, Netherlands",
    });
  });

  it("parses a contact card's vCard into name, phones, organisation and e-mail", () => {
    const vcard = [
      "BEGIN:VCARD",
      "VERSION:3.0",
      "N:Lovelace;Ada;;;",
      "FN:Ada Lovelace",
      "ORG:Analytical Engines\\, Ltd;",
      "TEL;type=CELL;type=VOICE;waid=447700900123:+44 7700 900123",
      "EMAIL;type=INTERNET:ada@example.org",
      "END:VCARD",
    ].join("\n");
    const msg = message({
      id: key(false, "31612345678@c.us", "VC1"),
      from: "31612345678@c.us",
      to: ME,
      type: "vcard",
      body: vcard,
    });
    const data = messageData(msg, context);
    assert.equal(data.type, "contact");
    assert.deepEqual(data.contact, {
      name: "Ada Lovelace",
      phones: ["447700900123"],
      organization: "Analytical Engines, Ltd",
      email: "ada@example.org",
    });
  });

  it("keeps WhatsApp Web's name for types the protocol lacks", () => {
    const msg = message({
      id: key(false, "31612345678@c.us", "EV1"),
      from: "31612345678@c.us",
      to: ME,
      type: "event_creation",
      body: "",
    });
    const data = messageData(msg, context);
    assert.equal(data.type, "unknown");
    assert.equal(data.engine_type, "event_creation");
  });

  it("translates a poll and a message from a LID-only sender", () => {
    const msg = message({
      id: key(false, "98765432109876@lid", "POLL1"),
      from: "98765432109876@lid",
      to: ME,
      type: "poll_creation",
      pollName: "Lunch?",
      pollOptions: [
        { name: "pizza", localId: 0 },
        { name: "sushi", localId: 1 },
      ],
      pollSelectableOptionsCount: 1,
    });
    const data = messageData(msg, context);
    assert.equal(data.chat, "98765432109876@lid");
    assert.deepEqual(data.from, { phone: null, jid: "98765432109876@lid", lid: "98765432109876@lid" });
    assert.deepEqual(data.poll, { name: "Lunch?", options: ["pizza", "sushi"], selectable_count: 1 });
  });

  it("gives a message from another device of the account our own number as sender (message.sent)", () => {
    const msg = message({
      id: key(true, "31612345678@c.us", "3EB0OTHERDEVICE"),
      from: ME,
      to: "31612345678@c.us",
      body: "from my phone",
    });
    const data = messageData(msg, context);
    assert.equal(data.chat, "31612345678@s.whatsapp.net");
    assert.deepEqual(data.from, { phone: "14155550100", jid: "14155550100@s.whatsapp.net", lid: null });
  });
});

describe("message.status from acks", () => {
  const sent = message({ id: key(true, "31612345678@c.us", "3EB0SENT"), from: ME, to: "31612345678@c.us", body: "hi" });

  it("maps whatsapp-web.js's MessageAck values to protocol statuses", () => {
    const { MessageAck } = wwebjs;
    assert.equal(ackStatus(MessageAck.ACK_ERROR), "failed");
    assert.equal(ackStatus(MessageAck.ACK_PENDING), null);
    assert.equal(ackStatus(MessageAck.ACK_SERVER), "sent");
    assert.equal(ackStatus(MessageAck.ACK_DEVICE), "delivered");
    assert.equal(ackStatus(MessageAck.ACK_READ), "read");
    assert.equal(ackStatus(MessageAck.ACK_PLAYED), "played");
  });

  it("names our client id and the recipient; pending acks say nothing", () => {
    assert.deepEqual(statusData(sent, 3, "msg_01JD"), {
      id: "msg_01JD",
      provider_message_id: "true_31612345678@c.us_3EB0SENT",
      status: "read",
      recipient: { phone: "31612345678", jid: "31612345678@s.whatsapp.net", lid: null },
    });
    assert.equal(statusData(sent, 0, "msg_01JD"), null);
  });

  it("reports a failure with an error and leaves out the id of messages not sent through the API", () => {
    const data = statusData(sent, -1, undefined)!;
    assert.equal(data.status, "failed");
    assert.equal(typeof data.error, "string");
    assert.equal("id" in data, false);
  });
});

describe("reactions and calls", () => {
  it("translates a Reaction, and an empty one as removed", () => {
    const reaction = new Reaction(client, {
      msgKey: key(false, "31612345678@c.us", "REACT1"),
      parentMsgKey: key(true, "31612345678@c.us", "3EB0SENT"),
      senderUserJid: "31612345678@c.us",
      reactionText: "👍",
      timestamp: 1764151200,
      orphan: 0,
      read: false,
      ack: 1,
    }) as WReaction;
    assert.deepEqual(reactionData(reaction), {
      message_id: "true_31612345678@c.us_3EB0SENT",
      chat: "31612345678@s.whatsapp.net",
      from: { phone: "31612345678", jid: "31612345678@s.whatsapp.net", lid: null },
      emoji: "👍",
      removed: false,
      timestamp: "2025-11-26T10:00:00.000Z",
    });
    const removed = new Reaction(client, {
      msgKey: key(false, "31612345678@c.us", "REACT2"),
      parentMsgKey: key(true, "31612345678@c.us", "3EB0SENT"),
      senderUserJid: "31612345678@c.us",
      reactionText: "",
      timestamp: 1764151200000,
    }) as WReaction;
    const data = reactionData(removed);
    assert.equal(data.removed, true);
    assert.equal(data.timestamp, "2025-11-26T10:00:00.000Z");
  });

  it("translates an incoming Call", () => {
    const call = new Call(client, {
      id: "CALL1",
      peerJid: "31612345678@c.us",
      isVideo: true,
      isGroup: false,
      offerTime: 1,
    }) as WCall;
    assert.deepEqual(callData(call), {
      call_id: "CALL1",
      from: { phone: "31612345678", jid: "31612345678@s.whatsapp.net", lid: null },
      video: true,
      is_group: false,
    });
  });

  it("parses folded vCard lines", () => {
    assert.deepEqual(parseVCard("BEGIN:VCARD\r\nFN:Grace\r\n  Hopper\r\nTEL:+1 (415) 555-0100\r\nEND:VCARD"), {
      name: "Grace Hopper",
      phones: ["14155550100"],
    });
  });
});
