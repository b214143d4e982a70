// The session's handling of whatsapp-web.js's Client: login states, sends (idempotent by client id), acks mapped to
// client ids, messages from other devices, unlinking, bans and browser crashes. The Client is a stand-in that emits
// what whatsapp-web.js emits; the messages it hands over are whatsapp-web.js's real Message objects.

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import wwebjs from "whatsapp-web.js";
import type WAWebJS from "whatsapp-web.js";
import { SentLog, type Emitter as EventSink } from "@wagw/node-kit";
import { parseProviderConfig, type Config } from "../config.js";
import type { GatewayClient } from "../gateway.js";
import { Logger } from "../log.js";
import { Problem } from "../problems.js";
import { validateSend } from "../sends.js";
import { WawebjsSession } from "../session.js";
import type { SnapshotStore } from "../store.js";

const Message = (
  wwebjs as unknown as { Message: new (client: unknown, data: Record<string, unknown>) => WAWebJS.Message }
).Message;
const ME = "14155550100@c.us";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "wawebjs-session-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

class FakeClient extends EventEmitter {
  info = { wid: { _serialized: ME }, pushname: "Acme" };
  pupBrowser = Object.assign(new EventEmitter(), { process: () => null });
  pupPage = new EventEmitter();
  sent: { chatId: string; content: unknown; options: unknown }[] = [];
  destroyed = false;
  loggedOut = false;

  async initialize(): Promise<void> {}
  async destroy(): Promise<void> {
    this.destroyed = true;
  }
  async logout(): Promise<void> {
    this.loggedOut = true;
  }
  async getNumberId(phone: string) {
    return phone.startsWith("999") ? null : { _serialized: `${phone}@c.us` };
  }
  async getContactLidAndPhone(ids: string[]) {
    return ids.map((id) => ({ lid: "123456789012345@lid", pn: id }));
  }
  downloads = 0;
  async getMessageById(id: string) {
    return {
      id: { _serialized: id },
      downloadMedia: async () => {
        this.downloads += 1;
        return new wwebjs.MessageMedia("image/jpeg", Buffer.from("JPEG bytes").toString("base64"));
      },
    };
  }
  async requestPairingCode(): Promise<string> {
    return "ABCDEFGH";
  }
  async sendMessage(chatId: string, content: unknown, options: unknown): Promise<WAWebJS.Message> {
    this.sent.push({ chatId, content, options });
    return raw(true, chatId, `3EB0${this.sent.length}`, { to: chatId, from: ME, ack: 1 });
  }
}

function raw(fromMe: boolean, remote: string, id: string, fields: Record<string, unknown> = {}): WAWebJS.Message {
  const key = { fromMe, remote, id, _serialized: `${fromMe}_${remote}_${id}` };
  return new Message(
    {},
    { id: key, t: 1764151200, type: "chat", body: "", from: fromMe ? ME : remote, to: fromMe ? remote : ME, ...fields },
  );
}

async function until<T>(probe: () => T | undefined | null | false, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`waiting for ${what}`);
}

function harness() {
  const dir = fs.mkdtempSync(path.join(root, "case-"));
  const config: Config = {
    instanceId: "ins_1",
    epoch: 1,
    token: "t",
    gatewayUrl: "http://127.0.0.1:9",
    listenHost: "127.0.0.1",
    listenPort: 0,
    dataDir: dir,
    logLevel: "error",
    provider: parseProviderConfig(JSON.stringify({ retry_initial_seconds: 0.01, retry_max_seconds: 0.02 })),
  };
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const sink: EventSink = { emit: (type, data) => void events.push({ type, data }) };
  const store = { wiped: 0, load: async () => undefined, wipe: async () => void store.wiped++ };
  const cleared: unknown[] = [];
  const gateway = { state: async (batch: unknown) => (cleared.push(batch), {}) };
  const clients: FakeClient[] = [];
  const log = new Logger("error");
  const sent = new SentLog(path.join(dir, "sent.jsonl"), log);
  const session = new WawebjsSession(
    config,
    gateway as unknown as GatewayClient,
    store as unknown as SnapshotStore,
    sink,
    sent,
    log,
    () => {
      const client = new FakeClient();
      clients.push(client);
      return client as unknown as WAWebJS.Client;
    },
  );
  const of = (type: string) => events.filter((e) => e.type === type).map((e) => e.data);
  const states = () => of("instance.status").map((d) => d.connection_state);
  return { session, events, of, states, store, cleared, clients, sent };
}

async function connected() {
  const h = harness();
  h.session.start();
  const client = await until(() => h.clients[0], "a client");
  client.emit("ready");
  await until(() => h.session.state === "connected", "connected");
  return { ...h, client };
}

describe("the session", () => {
  it("shows QR codes, then a pair code, then connects with the account", async () => {
    const h = harness();
    h.session.start();
    const client = await until(() => h.clients[0], "a client");
    assert.throws(
      () => h.session.currentQr(),
      (e: Problem) => e.code === "qr_unavailable",
    );
    client.emit("qr", "2@ref,key,identity,secret,platform");
    await until(() => h.session.state === "qr", "qr state");
    assert.equal(h.session.currentQr().qr, "2@ref,key,identity,secret,platform");
    assert.deepEqual(
      h.of("session.qr").map((d) => d.qr),
      ["2@ref,key,identity,secret,platform"],
    );

    const code = await h.session.requestPairCode("14155550100");
    assert.equal(code.code, "ABCD-EFGH");
    client.emit("code", "ABCDEFGH"); // whatsapp-web.js also reports the code as an event: told once
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(h.of("session.pair_code").length, 1);
    assert.equal(h.session.state, "pairing");

    client.emit("ready");
    await until(() => h.session.state === "connected", "connected");
    assert.deepEqual(h.of("session.connected")[0]?.me, {
      phone: "14155550100",
      jid: "14155550100@s.whatsapp.net",
      lid: "123456789012345@lid",
      push_name: "Acme",
    });
    assert.deepEqual(h.states(), ["connecting", "qr", "pairing", "connected"]);
    await assert.rejects(h.session.requestPairCode("14155550100"), (e: Problem) => e.code === "already_connected");
    await h.session.stop("test");
    assert.equal(client.destroyed, true);
  });

  it("sends once per client id, and names that id in the acks", async () => {
    const { session, client, of } = await connected();
    const send = validateSend({ id: "msg_A", to: "31612345678", type: "text", text: "hi" });
    const [first, again] = await Promise.all([session.send(send), session.send(send)]);
    assert.deepEqual(first, { id: "msg_A", provider_message_id: "true_31612345678@c.us_3EB01", status: "sent" });
    assert.deepEqual(again, first);
    assert.deepEqual(await session.send(send), first);
    assert.equal(client.sent.length, 1);
    assert.deepEqual(client.sent[0]?.options, { linkPreview: true });

    const mine = raw(true, "31612345678@c.us", "3EB01", { ack: 2 });
    client.emit("message_ack", mine, 2);
    client.emit("message_create", mine); // our own send, seen by WhatsApp Web: not a message.sent
    client.emit("message_create", raw(true, "31612345678@c.us", "3EB0PHONE", { body: "from the phone" }));
    const status = await until(() => of("message.status")[0], "message.status");
    assert.deepEqual(status, {
      id: "msg_A",
      provider_message_id: "true_31612345678@c.us_3EB01",
      status: "delivered",
      recipient: { phone: "31612345678", jid: "31612345678@s.whatsapp.net", lid: null },
    });
    const other = await until(() => of("message.sent")[0], "message.sent");
    assert.equal(other.id, "true_31612345678@c.us_3EB0PHONE");
    assert.equal(of("message.sent").length, 1);
    await session.stop("test");
  });

  it("refuses numbers that are not on WhatsApp, and every send while not connected", async () => {
    const { session } = await connected();
    await assert.rejects(
      session.send(validateSend({ id: "msg_B", to: "99912345678", type: "text", text: "hi" })),
      (e: Problem) => e.code === "invalid_recipient",
    );
    await session.stop("test");
    await assert.rejects(
      session.send(validateSend({ id: "msg_C", to: "31612345678", type: "text", text: "hi" })),
      (e: Problem) => e.code === "not_connected",
    );
  });

  it("reports received messages and keeps their media for download", async () => {
    const { session, client, of } = await connected();
    client.emit(
      "message",
      raw(false, "31612345678@c.us", "IMG", {
        type: "image",
        directPath: "/v/x",
        mimetype: "image/jpeg",
        size: 10,
        notifyName: "Ada",
      }),
    );
    const received = await until(() => of("message.received")[0], "message.received");
    const media = received.media as { download: string };
    assert.match(media.download, /^\/v1\/media\/med_[0-9A-Z]{26}$/);
    const mediaId = media.download.slice("/v1/media/".length);
    // Downloaded through WhatsApp Web once, then served from DATA_DIR, also while disconnected.
    for (let i = 0; i < 2; i++) {
      const content = await session.mediaContent(mediaId);
      assert.deepEqual([content.mimetype, content.data.toString()], ["image/jpeg", "JPEG bytes"]);
    }
    assert.equal(client.downloads, 1);
    await assert.rejects(session.mediaContent("med_unknown"), (e: Problem) => e.code === "media_not_found");
    await session.stop("test");
    assert.equal((await session.mediaContent(mediaId)).data.toString(), "JPEG bytes");
  });

  it("forgets the session when the phone unlinks the device, and stays logged out", async () => {
    const { session, client, of, store, cleared, states, clients } = await connected();
    client.emit("disconnected", "UNPAIRED");
    await until(() => session.state === "logged_out", "logged_out");
    assert.equal(store.wiped, 1);
    assert.deepEqual(cleared, [{ clear: true }]);
    assert.equal(of("session.logged_out").length, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(clients.length, 1, "no new client after a logout");
    assert.deepEqual(states().slice(-1), ["logged_out"]);
    await session.stop("test");
  });

  it("reports a ban and does not retry", async () => {
    const { session, client, of, clients, store } = await connected();
    client.emit("disconnected", "TOS_BLOCK");
    await until(() => session.state === "banned", "banned");
    assert.equal(of("session.banned").length, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(clients.length, 1);
    assert.equal(store.wiped, 0, "a ban is not a logout: the session is kept");
    assert.equal(of("session.logged_out").length, 0);
    await session.stop("test");
  });

  it("restarts the browser, not the worker, when it dies; a passing CONFLICT keeps the session", async () => {
    const { session, client, of, clients, store } = await connected();
    client.pupBrowser.emit("disconnected");
    await until(() => clients.length === 2, "a second client");
    assert.deepEqual(of("session.disconnected")[0], { reason: "the browser exited", will_retry: true });
    clients[1]!.emit("disconnected", "CONFLICT");
    await until(() => clients.length === 3, "a third client");
    assert.equal(store.wiped, 0);
    clients[2]!.emit("ready");
    await until(() => session.state === "connected", "connected again");
    await session.stop("shutdown");
    assert.equal(session.state, "disconnected");
    assert.equal(
      clients.every((c) => c.destroyed),
      true,
    );
  });
});
