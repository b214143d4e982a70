// The session's reaction to what WhatsApp does to a connection, with Baileys' socket replaced by a stand-in that
// emits the connection updates Baileys emits (the Boom status codes of DisconnectReason), and the real auth state
// on a real HTTP state store.

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, test } from "node:test";

import { SentLog, type Emitter } from "@wagw/node-kit";
import { DisconnectReason, type WASocket } from "baileys";

import { DEFAULT_SETTINGS } from "../src/config.js";
import { GatewayClient } from "../src/gateway.js";
import { Logger } from "../src/log.js";
import { MediaStore } from "../src/media.js";
import { Problem } from "../src/problems.js";
import { BaileysSession } from "../src/session.js";
import { startFakeStore, type FakeStore } from "./fake-store.js";

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const log = new Logger("error");
let store: FakeStore;
let gateway: GatewayClient;

before(async () => {
  store = await startFakeStore("ins_S", "tok", 1);
  gateway = new GatewayClient(store.url, "ins_S", "tok", 1, () => undefined);
});
after(() => store.close());

class FakeSocket {
  readonly ev = new EventEmitter();
  ended = 0;
  loggedOut = 0;
  sent: { jid: string; content: unknown; options: { messageId?: string } }[] = [];
  signalRepository = { lidMapping: { getLIDForPN: async () => null, getPNForLID: async () => null } };
  constructor(readonly config: { auth: { creds: Record<string, unknown> } }) {}
  async end(): Promise<void> {
    this.ended += 1;
  }
  async logout(): Promise<void> {
    this.loggedOut += 1;
  }
  async requestPairingCode(phone: string): Promise<string> {
    return phone ? "ABCD2345" : "";
  }
  async sendMessage(jid: string, content: unknown, options: { messageId?: string }) {
    this.sent.push({ jid, content, options });
    return { key: { remoteJid: jid, fromMe: true, id: options.messageId }, message: {} };
  }
  close(statusCode: number, message = "closed"): void {
    const error = Object.assign(new Error(message), { output: { statusCode } });
    this.ev.emit("connection.update", { connection: "close", lastDisconnect: { error, date: new Date() } });
  }
}

interface Harness {
  session: BaileysSession;
  sockets: FakeSocket[];
  events: { type: string; data: Record<string, unknown> }[];
}

function harness(): Harness {
  const sockets: FakeSocket[] = [];
  const events: Harness["events"] = [];
  const sink: Emitter = { emit: (type, data) => void events.push({ type, data }) };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bl-session-"));
  const session = new BaileysSession({
    instanceId: "ins_S",
    settings: { ...DEFAULT_SETTINGS, reconnectInitialSeconds: 0.05, reconnectMaxSeconds: 0.1 },
    store: gateway,
    sink,
    media: new MediaStore(path.join(dir, "media")),
    sent: new SentLog(path.join(dir, "sent.jsonl"), log),
    log,
    makeSocket: (config) => {
      const socket = new FakeSocket(config as never);
      sockets.push(socket);
      return socket as unknown as WASocket;
    },
  });
  return { session, sockets, events };
}

async function until<T>(probe: () => T | undefined | false, what: string, seconds = 3): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const states = (h: Harness) => h.events.filter((e) => e.type === "instance.status").map((e) => e.data.connection_state);

test("no session: QR, then pairing success, restart required, and connected with the stored login", async () => {
  store.kv.clear();
  const h = harness();
  h.session.start();
  const first = await until(() => h.sockets[0], "a socket");
  first.ev.emit("connection.update", { connection: "connecting" });
  first.ev.emit("connection.update", { qr: "2@abc,def,ghi" });
  assert.equal(h.session.state, "qr");
  assert.equal(h.session.currentQr().qr, "2@abc,def,ghi");
  const qrEvent = h.events.find((e) => e.type === "session.qr")!;
  assert.equal(qrEvent.data.qr, "2@abc,def,ghi");

  // The phone scans: Baileys stores the new identity, then WhatsApp asks for a restart (515).
  const creds = first.config.auth.creds as { me?: unknown; account?: unknown };
  creds.me = { id: "14155550100:12@s.whatsapp.net", lid: "123456789012345:12@lid", name: "Acme" };
  creds.account = { details: Buffer.alloc(4, 1) };
  first.ev.emit("creds.update", { me: creds.me, account: creds.account });
  first.ev.emit("connection.update", { isNewLogin: true, qr: undefined });
  first.close(DisconnectReason.restartRequired, "restart required");
  const second = await until(() => h.sockets[1], "a new socket after 515");
  assert.ok(store.kv.get("creds")?.includes("14155550100:12@s.whatsapp.net"), "the login is stored before the restart");
  second.ev.emit("connection.update", { connection: "open" });
  await until(() => h.session.state === "connected", "connected");
  assert.deepEqual(h.session.me, {
    phone: "14155550100",
    jid: "14155550100@s.whatsapp.net",
    lid: "123456789012345@lid",
    push_name: "Acme",
  });
  const connected = h.events.find((e) => e.type === "session.connected")!;
  assert.deepEqual(connected.data.me, h.session.me);
  assert.ok(!states(h).includes("disconnected"), "a restart after pairing is not a disconnect");
  assert.throws(
    () => h.session.currentQr(),
    (e: Problem) => e.status === 409 && e.code === "already_connected",
  );
  h.session.abort();
});

test("a lost connection is reported and retried with backoff; connection replaced is reported and not retried", async () => {
  const h = harness();
  h.session.start();
  const first = await until(() => h.sockets[0], "a socket");
  first.ev.emit("connection.update", { connection: "open" });
  await until(() => h.session.state === "connected", "connected");
  first.close(DisconnectReason.connectionLost, "Connection was lost");
  assert.equal(h.session.state, "disconnected");
  assert.deepEqual(h.events.find((e) => e.type === "session.disconnected")?.data, {
    reason: "connection lost (408: Connection was lost)",
    will_retry: true,
  });
  const second = await until(() => h.sockets[1], "a reconnect");
  second.ev.emit("connection.update", { connection: "open" });
  await until(() => h.session.state === "connected", "connected again");

  second.close(DisconnectReason.connectionReplaced, "Connection Replaced");
  assert.equal(h.session.state, "failed");
  assert.deepEqual(h.events.at(-2)?.data, { reason: "connection_replaced", will_retry: false });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(h.sockets.length, 2, "no reconnect after the session was taken over");
  h.session.abort();
});

test("logged out by the phone wipes the stored session and is reported", async () => {
  store.kv.set("creds", JSON.stringify({ stale: true }));
  store.kv.set("session:1.0", "x");
  const h = harness();
  h.session.start();
  const first = await until(() => h.sockets[0], "a socket");
  first.ev.emit("connection.update", { connection: "open" });
  await until(() => h.session.state === "connected", "connected");
  first.close(DisconnectReason.loggedOut, "Connection Failure");
  await until(() => h.session.state === "logged_out", "logged_out");
  assert.equal(store.kv.size, 0);
  assert.equal(store.calls.at(-1)?.clear, true);
  assert.equal(
    h.events.find((e) => e.type === "session.logged_out")?.data.reason,
    "the device was unlinked from the phone",
  );
  assert.equal(h.session.me, null);
  h.session.abort();
});

test("pair code: formatted, reported, and QRs are held back while it is being typed", async () => {
  store.kv.clear();
  const h = harness();
  await assert.rejects(h.session.requestPairCode("14155550100"), (e: Problem) => e.status === 503);
  h.session.start();
  const first = await until(() => h.sockets[0], "a socket");
  first.ev.emit("connection.update", { qr: "2@first" });
  const answer = await h.session.requestPairCode("14155550100");
  assert.equal(answer.code, "ABCD-2345");
  assert.equal(h.session.state, "pairing");
  first.ev.emit("connection.update", { qr: "2@second" });
  assert.equal(h.session.state, "pairing");
  assert.equal(h.events.filter((e) => e.type === "session.qr").length, 1);
  assert.equal(h.events.find((e) => e.type === "session.pair_code")?.data.code, "ABCD-2345");
  h.session.abort();
});

test("sends use the client id, are idempotent, and refuse while not connected", async () => {
  const h = harness();
  h.session.start();
  const first = await until(() => h.sockets[0], "a socket");
  const body = { id: "msg_IDEMPOTENT", to: "14155550100", type: "text" as const, text: "hi" };
  await assert.rejects(h.session.send(body), (e: Problem) => e.code === "not_connected");
  first.ev.emit("connection.update", { connection: "open" });
  await until(() => h.session.state === "connected", "connected");
  const [a, b] = await Promise.all([h.session.send(body), h.session.send(body)]);
  const c = await h.session.send(body);
  assert.deepEqual(a, { id: "msg_IDEMPOTENT", provider_message_id: "msg_IDEMPOTENT", status: "sent" });
  assert.deepEqual(b, a);
  assert.deepEqual(c, a);
  assert.equal(first.sent.length, 1, "one id, one WhatsApp message");
  assert.equal(first.sent[0]!.options.messageId, "msg_IDEMPOTENT");
  h.session.abort();
});
