// The unified send body: validation (before any connection check) and what it becomes for whatsapp-web.js.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import wwebjs from "whatsapp-web.js";
import { engineContent } from "../outgoing.js";
import { Problem } from "../problems.js";
import { buildOutgoing, buildVCard, chatIdOf, validateSend, type Send } from "../sends.js";
import { parseVCard } from "../translate.js";

const PNG = Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), Buffer.alloc(32)]).toString("base64");

function send(type: string, fields: Record<string, unknown>): Send {
  return validateSend({ id: "msg_01JD", to: "31612345678", type, ...fields });
}

function refused(body: unknown): Problem {
  try {
    validateSend(body);
  } catch (error) {
    assert.ok(error instanceof Problem, String(error));
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(body).slice(0, 200)}`);
}

describe("validating a send", () => {
  it("refuses malformed recipients with invalid_recipient", () => {
    for (const to of ["not-a-number", "4155abc0100", "14155550100@example.com", "hello@g", "12345", ""]) {
      assert.equal(refused({ id: "m", to, type: "text", text: "x" }).code, "invalid_recipient", to);
    }
  });

  it("refuses unknown types with unsupported_message_type", () => {
    assert.equal(refused({ id: "m", to: "31612345678", type: "hologram" }).code, "unsupported_message_type");
  });

  it("refuses bodies that are not sends with 422", () => {
    const cases: unknown[] = [
      null,
      [],
      "text",
      {},
      { to: "31612345678", type: "text", text: "x" },
      { id: "m", to: "31612345678", type: "text" },
      { id: "m", to: "31612345678", type: "text", text: "" },
      { id: "m", to: "31612345678", type: "text", text: "x".repeat(4097) },
      { id: "m", to: "31612345678", type: "image" },
      { id: "m", to: "31612345678", type: "image", media: { url: "ftp://x/y.png" } },
      { id: "m", to: "31612345678", type: "image", media: { url: "https://x/y.png", base64: PNG } },
      { id: "m", to: "31612345678", type: "image", media: { base64: "not base64!" } },
      { id: "m", to: "31612345678", type: "location", location: { name: "nowhere" } },
      { id: "m", to: "31612345678", type: "location", location: { latitude: 91, longitude: 0 } },
      { id: "m", to: "31612345678", type: "contact", contact: { name: "Ada", phones: [] } },
      { id: "m", to: "31612345678", type: "reaction", reaction: { emoji: "👍" } },
      { id: "m", to: "31612345678", type: "poll", poll: { name: "Q", options: ["only one"] } },
      { id: "m", to: "31612345678", type: "poll", poll: { name: "Q", options: ["a", "a"] } },
    ];
    for (const body of cases) assert.equal(refused(body).status, 422, JSON.stringify(body));
  });

  it("refuses media over the limit with 413 media_too_large", () => {
    const big = Buffer.alloc(16 * 1024 * 1024 + 1).toString("base64");
    const problem = refused({ id: "m", to: "31612345678", type: "image", media: { base64: big } });
    assert.deepEqual([problem.status, problem.code], [413, "media_too_large"]);
    // Documents may be larger.
    assert.equal(send("document", { media: { base64: big }, filename: "big.bin" }).type, "document");
  });

  it("accepts JIDs of people, groups and LIDs", () => {
    for (const to of ["31612345678@s.whatsapp.net", "120363025246125486@g.us", "98765432109876@lid"]) {
      assert.equal(validateSend({ id: "m", to, type: "text", text: "x" }).to, to);
    }
  });
});

describe("building a whatsapp-web.js send", () => {
  it("addresses phones and @s.whatsapp.net JIDs as @c.us chats, groups and LIDs as they are", () => {
    assert.equal(chatIdOf("31612345678"), "31612345678@c.us");
    assert.equal(chatIdOf("31612345678:12@s.whatsapp.net"), "31612345678@c.us");
    assert.equal(chatIdOf("120363025246125486@g.us"), "120363025246125486@g.us");
    assert.equal(chatIdOf("98765432109876@lid"), "98765432109876@lid");
  });

  it("sends text as a string, quoting the replied-to message", () => {
    const outgoing = buildOutgoing(send("text", { text: "Hello", reply_to: "false_31612345678@c.us_3EB0ABC" }));
    assert.deepEqual(outgoing, {
      action: "send",
      chatId: "31612345678@c.us",
      content: { kind: "text", text: "Hello" },
      options: { quotedMessageId: "false_31612345678@c.us_3EB0ABC", linkPreview: true },
    });
  });

  it("sets the media options per type: caption, document, sticker, voice note", () => {
    const image = buildOutgoing(send("image", { media: { base64: PNG }, mimetype: "image/png", caption: "look" }));
    assert.equal(image.action, "send");
    assert.deepEqual(image.action === "send" && image.options, { caption: "look" });
    const doc = buildOutgoing(
      send("document", { media: { base64: PNG }, mimetype: "application/pdf", filename: "a.pdf", caption: "c" }),
    );
    assert.deepEqual(doc.action === "send" && doc.options, { caption: "c", sendMediaAsDocument: true });
    const sticker = buildOutgoing(
      send("sticker", { media: { base64: PNG }, mimetype: "image/webp", caption: "dropped" }),
    );
    assert.deepEqual(sticker.action === "send" && sticker.options, { sendMediaAsSticker: true });
    const voice = buildOutgoing(
      send("audio", { media: { base64: PNG }, mimetype: "audio/ogg; codecs=opus", voice_note: true }),
    );
    assert.deepEqual(voice.action === "send" && voice.options, { sendAudioAsVoice: true });
    const audio = buildOutgoing(send("audio", { media: { base64: PNG } }));
    assert.deepEqual(audio.action === "send" && audio.options, {});
  });

  it("makes whatsapp-web.js's MessageMedia from base64 or a downloaded URL", async () => {
    const image = buildOutgoing(send("image", { media: { base64: PNG }, mimetype: "image/png" }));
    assert.equal(image.action, "send");
    const media = image.action === "send" ? await engineContent(image.content) : null;
    assert.ok(media instanceof wwebjs.MessageMedia);
    assert.equal(media.mimetype, "image/png");
    assert.equal(media.data, PNG);
    assert.equal(media.filesize, 40);

    const doc = buildOutgoing(send("document", { media: { url: "https://files.example/a.pdf", filename: "a.pdf" } }));
    const fetched: string[] = [];
    const fake = async (url: string, limit: number) => {
      fetched.push(`${url} ${limit}`);
      return { data: Buffer.from("%PDF-1.7"), mimetype: "application/pdf" };
    };
    const pdf = doc.action === "send" ? await engineContent(doc.content, fake) : null;
    assert.ok(pdf instanceof wwebjs.MessageMedia);
    assert.deepEqual(
      [pdf.mimetype, pdf.filename, Buffer.from(pdf.data, "base64").toString()],
      ["application/pdf", "a.pdf", "%PDF-1.7"],
    );
    assert.deepEqual(fetched, [`https://files.example/a.pdf ${100 * 1024 * 1024}`]);
  });

  it("makes a whatsapp-web.js Location with name and address", async () => {
    const outgoing = buildOutgoing(
      send("location", { location: { latitude: 52.37, longitude: 4.89, name: "Dam", address: "Amsterdam" } }),
    );
    const location = outgoing.action === "send" ? await engineContent(outgoing.content) : null;
    assert.ok(location instanceof wwebjs.Location);
    assert.deepEqual(
      [location.latitude, location.longitude, location.name, location.address],
      [52.37, 4.89, "Dam", "Amsterdam"],
    );
  });

  it("sends a contact as a vCard that whatsapp-web.js parses into a contact card", () => {
    const outgoing = buildOutgoing(
      send("contact", {
        contact: {
          name: "Lovelace, Ada",
          phones: ["+44 7700 900123"],
          organization: "Engines; Ltd",
          email: "ada@example.org",
        },
      }),
    );
    assert.equal(outgoing.action, "send");
    if (outgoing.action !== "send" || outgoing.content.kind !== "vcard") return assert.fail("not a vCard");
    assert.equal(outgoing.options.parseVCards, true);
    // whatsapp-web.js recognises a vCard body by these markers.
    assert.match(outgoing.content.vcard, /^BEGIN:VCARD\n/);
    assert.match(outgoing.content.vcard, /\nEND:VCARD$/);
    assert.match(outgoing.content.vcard, /\nTEL;type=CELL;type=VOICE;waid=447700900123:\+447700900123\n/);
    assert.deepEqual(parseVCard(outgoing.content.vcard), {
      name: "Lovelace, Ada",
      phones: ["447700900123"],
      organization: "Engines; Ltd",
      email: "ada@example.org",
    });
  });

  it("makes a whatsapp-web.js Poll, single-choice only for selectable_count 1", async () => {
    for (const [count, multiple] of [
      [1, false],
      [0, true],
      [2, true],
    ] as const) {
      const outgoing = buildOutgoing(
        send("poll", { poll: { name: "Lunch?", options: ["pizza", "sushi"], selectable_count: count } }),
      );
      const poll = outgoing.action === "send" ? await engineContent(outgoing.content) : null;
      assert.ok(poll instanceof wwebjs.Poll);
      assert.equal(poll.pollName, "Lunch?");
      assert.deepEqual(
        poll.pollOptions.map((o) => o.name),
        ["pizza", "sushi"],
      );
      assert.equal(poll.options.allowMultipleAnswers, multiple);
    }
  });

  it("reacts to a serialized message id as given, to a bare key id as received then as ours", () => {
    assert.deepEqual(
      buildOutgoing(send("reaction", { reaction: { message_id: "true_31612345678@c.us_3EB0X", emoji: "👍" } })),
      {
        action: "react",
        chatId: "31612345678@c.us",
        targets: ["true_31612345678@c.us_3EB0X"],
        emoji: "👍",
      },
    );
    const bare = buildOutgoing(send("reaction", { reaction: { message_id: "3EB0X", emoji: "" } }));
    assert.deepEqual(bare.action === "react" && bare.targets, [
      "false_31612345678@c.us_3EB0X",
      "true_31612345678@c.us_3EB0X",
    ]);
  });

  it("escapes vCard values", () => {
    assert.match(buildVCard({ name: "a;b,c\nd", phones: ["1"] }), /\nFN:a\\;b\\,c\\nd\n/);
  });
});
