// Each unified send body (protocol §5) → the worker's content → Baileys' real message generation (generateWAMessage,
// with media encrypted for real and only the upload to WhatsApp's CDN replaced), asserting the protobuf it yields.

import assert from "node:assert/strict";
import { test } from "node:test";

import { generateWAMessage, proto, type WAMessage } from "baileys";

import { Problem } from "../src/problems.js";
import { buildContent, toJid, validateSend, vcard, whatsappMessageId, type Send } from "../src/sends.js";

const PNG = Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), Buffer.alloc(32)]);
const uploads: { mediaType: string }[] = [];
const upload = async (_path: string, opts: { mediaType: string }) => {
  uploads.push({ mediaType: opts.mediaType });
  return { mediaUrl: "https://mmg.whatsapp.net/v/t62/x", directPath: "/v/t62/x" };
};

async function generate(body: Record<string, unknown>): Promise<WAMessage> {
  const send = validateSend({ id: "msg_01JDTEST", to: "14155550100", ...body });
  const jid = toJid(send.to);
  const media = send.media?.base64 ? Buffer.from(send.media.base64, "base64") : undefined;
  const content = buildContent(send, jid, media);
  return generateWAMessage(jid, content, {
    userJid: "4915112345678@s.whatsapp.net",
    messageId: whatsappMessageId(send.id, "client"),
    upload,
  });
}

function problemOf(body: unknown): Problem {
  try {
    validateSend(body);
  } catch (error) {
    assert.ok(error instanceof Problem);
    return error;
  }
  assert.fail("expected a problem");
}

const b64 = PNG.toString("base64");

test("text keeps the client's id as the WhatsApp message id", async () => {
  const msg = await generate({ type: "text", text: "Hello" });
  assert.equal(msg.key.id, "msg_01JDTEST");
  assert.equal(msg.key.remoteJid, "14155550100@s.whatsapp.net");
  assert.equal(msg.key.fromMe, true);
  assert.equal(msg.message?.extendedTextMessage?.text ?? msg.message?.conversation, "Hello");
});

test("image and video carry caption and mimetype, encrypted and uploaded as their media type", async () => {
  uploads.length = 0;
  const image = await generate({ type: "image", media: { base64: b64 }, mimetype: "image/png", caption: "a picture" });
  assert.equal(image.message?.imageMessage?.caption, "a picture");
  assert.equal(image.message?.imageMessage?.mimetype, "image/png");
  assert.equal(image.message?.imageMessage?.directPath, "/v/t62/x");
  assert.equal(image.message?.imageMessage?.mediaKey?.length, 32);
  const video = await generate({
    type: "video",
    media: { base64: b64, caption: "inside wins" },
    caption: "outside",
    mimetype: "video/mp4",
  });
  assert.equal(video.message?.videoMessage?.caption, "inside wins");
  assert.equal(video.message?.videoMessage?.mimetype, "video/mp4");
  assert.deepEqual(
    uploads.map((u) => u.mediaType),
    ["image", "video"],
  );
});

test("audio is a voice note (ptt) only when asked, with an Opus default", async () => {
  const voice = await generate({ type: "audio", media: { base64: b64 }, voice_note: true });
  assert.equal(voice.message?.audioMessage?.ptt, true);
  assert.equal(voice.message?.audioMessage?.mimetype, "audio/ogg; codecs=opus");
  const song = await generate({ type: "audio", media: { base64: b64 }, mimetype: "audio/mpeg" });
  assert.ok(!song.message?.audioMessage?.ptt);
  assert.equal(song.message?.audioMessage?.mimetype, "audio/mpeg");
});

test("document keeps file name and caption; sticker is a sticker", async () => {
  const document = await generate({
    type: "document",
    media: { base64: b64 },
    mimetype: "application/pdf",
    filename: "a.pdf",
    caption: "doc",
  });
  const inner =
    document.message?.documentMessage ?? document.message?.documentWithCaptionMessage?.message?.documentMessage;
  assert.equal(inner?.fileName, "a.pdf");
  assert.equal(inner?.mimetype, "application/pdf");
  assert.equal(inner?.caption, "doc");
  const sticker = await generate({ type: "sticker", media: { base64: b64 }, mimetype: "image/webp" });
  assert.equal(sticker.message?.stickerMessage?.mimetype, "image/webp");
});

test("location, contact, reaction and poll", async () => {
  const location = await generate({
    type: "location",
    location: { latitude: 52.37, longitude: 4.89, name: "Dam", address: "Amsterdam" },
  });
  assert.equal(location.message?.locationMessage?.degreesLatitude, 52.37);
  assert.equal(location.message?.locationMessage?.name, "Dam");
  const contact = await generate({
    type: "contact",
    contact: { name: "Ada Lovelace", phones: ["14155550199"], organization: "Analytical; Ltd" },
  });
  assert.equal(contact.message?.contactMessage?.displayName, "Ada Lovelace");
  assert.match(contact.message!.contactMessage!.vcard!, /TEL;type=CELL;type=VOICE;waid=14155550199:\+14155550199/);
  assert.match(contact.message!.contactMessage!.vcard!, /ORG:Analytical\\; Ltd;/);
  const reaction = await generate({ type: "reaction", reaction: { message_id: "3EB0ABCDEF", emoji: "👍" } });
  assert.equal(reaction.message?.reactionMessage?.text, "👍");
  assert.equal(reaction.message?.reactionMessage?.key?.id, "3EB0ABCDEF");
  assert.equal(reaction.message?.reactionMessage?.key?.remoteJid, "14155550100@s.whatsapp.net");
  const removed = await generate({ type: "reaction", reaction: { message_id: "3EB0ABCDEF", emoji: "" } });
  assert.equal(removed.message?.reactionMessage?.text, "");
  const poll = await generate({
    type: "poll",
    poll: { name: "Lunch?", options: ["pizza", "sushi"], selectable_count: 1 },
  });
  const created = poll.message?.pollCreationMessageV3 ?? poll.message?.pollCreationMessage;
  assert.equal(created?.name, "Lunch?");
  assert.deepEqual(
    created?.options?.map((o) => o.optionName),
    ["pizza", "sushi"],
  );
  assert.equal(created?.selectableOptionsCount, 1);
});

test("a reaction to a known message uses its real key", () => {
  const send = validateSend({
    id: "m1",
    to: "120363040000000000@g.us",
    type: "reaction",
    reaction: { message_id: "3A1", emoji: "❤️" },
  });
  const known = {
    remoteJid: "120363040000000000@g.us",
    id: "3A1",
    fromMe: false,
    participant: "4915112345678@s.whatsapp.net",
  };
  const content = buildContent(send, toJid(send.to), undefined, (id) => (id === "3A1" ? known : undefined)) as {
    react: proto.Message.IReactionMessage;
  };
  assert.deepEqual(content.react.key, known);
});

test("validation: recipients, types and fields answer the protocol's problems", () => {
  assert.equal(problemOf({ id: "m", to: "hello@g", type: "text", text: "x" }).code, "invalid_recipient");
  assert.equal(problemOf({ id: "m", to: "4155abc0100", type: "text", text: "x" }).code, "invalid_recipient");
  assert.equal(problemOf({ id: "m", to: "14155550100", type: "hologram" }).code, "unsupported_message_type");
  for (const body of [
    {},
    { to: "14155550100", type: "text", text: "x" },
    { id: "m", to: "14155550100", type: "text", text: "" },
    { id: "m", to: "14155550100", type: "text", text: "x".repeat(4097) },
    { id: "m", to: "14155550100", type: "image" },
    { id: "m", to: "14155550100", type: "image", media: { url: "ftp://x" } },
    { id: "m", to: "14155550100", type: "image", media: { base64: "***" } },
    { id: "m", to: "14155550100", type: "location", location: { name: "nowhere" } },
    { id: "m", to: "14155550100", type: "location", location: { latitude: 91, longitude: 0 } },
    { id: "m", to: "14155550100", type: "reaction", reaction: { emoji: "👍" } },
    { id: "m", to: "14155550100", type: "poll", poll: { name: "q", options: ["only one"] } },
    { id: "m", to: "14155550100", type: "audio", media: { base64: b64 }, voice_note: "yes" },
  ]) {
    const problem = problemOf(body);
    assert.equal(problem.status, 422, JSON.stringify(body));
  }
  assert.equal(
    problemOf({ id: "m", to: "14155550100", type: "image", media: { base64: "A".repeat(22_500_000) } }).status,
    413,
  );
  assert.equal(problemOf([]).status, 422);
  assert.equal(problemOf(null).status, 422);
});

test("validated sends keep what Baileys needs", () => {
  const send: Send = validateSend({
    id: "m",
    to: "14155550100@s.whatsapp.net",
    type: "text",
    text: "hi",
    reply_to: "3EB0Q",
  });
  assert.equal(send.replyTo, "3EB0Q");
  assert.equal(toJid("14155550100"), "14155550100@s.whatsapp.net");
  assert.equal(toJid("123@lid"), "123@lid");
});

test("derived message ids look like WhatsApp Web's and are stable", () => {
  const id = whatsappMessageId("msg_01JDTEST", "derived");
  assert.match(id, /^3EB0[0-9A-F]{18}$/);
  assert.equal(whatsappMessageId("msg_01JDTEST", "derived"), id);
  assert.equal(whatsappMessageId("msg_01JDTEST", "client"), "msg_01JDTEST");
});

test("vCards escape what vCard reserves", () => {
  assert.equal(
    vcard({ name: "A;B, C", phones: ["+1 415 555 0199"], email: "a@b.c" }),
    "BEGIN:VCARD\nVERSION:3.0\nFN:A\\;B\\, C\nEMAIL;type=INTERNET:a@b.c\nTEL;type=CELL;type=VOICE;waid=14155550199:+14155550199\nEND:VCARD",
  );
});
