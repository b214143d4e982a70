// RemoteAuth on the state store's snapshots: the real whatsapp-web.js RemoteAuth zips a profile, the store writes it
// to a gateway on loopback, and a second worker (another RemoteAuth, empty disk) gets the same profile back.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CompleteRemoteAuth } from "../auth.js";
import { EpochSuperseded, GatewayClient } from "../gateway.js";
import { Logger } from "../log.js";
import { SNAPSHOT_NAME, SnapshotStore } from "../store.js";

const log = new Logger("error");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "wawebjs-store-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** The snapshot half of the control plane's internal API, with fencing by epoch. */
class FakeGateway {
  generations: { content: Buffer; sha256: string }[] = [];
  currentEpoch = 1;
  corrupt = false;
  server = http.createServer((req, res) => void this.handle(req, res));
  url = "";

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${address.port}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const reply = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(json));
    };
    if (Number(req.headers["x-worker-epoch"]) < this.currentEpoch) return reply(409, { code: "epoch_superseded" });
    if (!req.url?.endsWith(`/snapshots/${SNAPSHOT_NAME}`)) return reply(404, { code: "not_found" });
    const newest = this.generations.length;
    if (req.method === "GET") {
      const last = this.generations[newest - 1];
      if (!last) return reply(404, { code: "snapshot_not_found" });
      res.writeHead(200, {
        "x-content-sha256": this.corrupt ? "0".repeat(64) : last.sha256,
        "x-generation": String(newest),
      });
      return void res.end(last.content);
    }
    const sha256 = createHash("sha256").update(body).digest("hex");
    if (req.headers["x-content-sha256"] !== sha256) return reply(422, { code: "checksum_mismatch" });
    if (Number(req.headers["if-match"]) !== newest) return reply(412, { code: "generation_conflict" });
    this.generations.push({ content: body, sha256 });
    reply(201, { generation: newest + 1, sha256, size: body.length });
  }
}

function remoteAuth(store: SnapshotStore, dataPath: string) {
  const auth = new CompleteRemoteAuth({ store, dataPath, backupSyncIntervalMs: 60_000 });
  // What Client.initialize hands the strategy before the browser starts.
  auth.setup({ options: { puppeteer: {} } } as never);
  return auth as unknown as {
    beforeBrowserInitialized(): Promise<void>;
    storeRemoteSession(options?: { emit: boolean }): Promise<void>;
    userDataDir: string;
  };
}

describe("the session snapshot", () => {
  const gateway = new FakeGateway();
  before(() => gateway.start());
  after(() => gateway.server.close());

  it("survives the loss of the worker's disk: saved by one RemoteAuth, restored by the next", async () => {
    const first = path.join(fs.mkdtempSync(path.join(root, "a-")), "wwebjs");
    const client = new GatewayClient(gateway.url, "ins_1", "token", 1, () => undefined);
    const store = new SnapshotStore(client, first, log);
    await store.load();
    const auth = remoteAuth(store, first);
    await auth.beforeBrowserInitialized();
    // What Chromium keeps of a WhatsApp Web login.
    const indexedDb = path.join(auth.userDataDir, "Default", "IndexedDB", "https_web.whatsapp.com_0.indexeddb.leveldb");
    fs.mkdirSync(indexedDb, { recursive: true });
    fs.writeFileSync(path.join(indexedDb, "000003.log"), "signal keys");
    fs.mkdirSync(path.join(auth.userDataDir, "Default", "Local Storage"), { recursive: true });
    fs.writeFileSync(path.join(auth.userDataDir, "Default", "Local Storage", "leveldb"), "WAToken");
    fs.mkdirSync(path.join(auth.userDataDir, "Default", "Cache"), { recursive: true });
    fs.writeFileSync(path.join(auth.userDataDir, "Default", "Cache", "big"), "not part of a session");
    await auth.storeRemoteSession();
    assert.equal(gateway.generations.length, 1);

    // A migration: a new worker, a new epoch, an empty DATA_DIR.
    gateway.currentEpoch = 2;
    const second = path.join(fs.mkdtempSync(path.join(root, "b-")), "wwebjs");
    const next = new SnapshotStore(new GatewayClient(gateway.url, "ins_1", "token", 2, () => undefined), second, log);
    await next.load();
    assert.equal(await next.sessionExists({ session: "RemoteAuth" }), true);
    const restored = remoteAuth(next, second);
    await restored.beforeBrowserInitialized();
    const restoredDb = path.join(
      restored.userDataDir,
      "Default",
      "IndexedDB",
      "https_web.whatsapp.com_0.indexeddb.leveldb",
    );
    assert.equal(fs.readFileSync(path.join(restoredDb, "000003.log"), "utf8"), "signal keys");
    assert.equal(
      fs.readFileSync(path.join(restored.userDataDir, "Default", "Local Storage", "leveldb"), "utf8"),
      "WAToken",
    );
    assert.equal(fs.existsSync(path.join(restored.userDataDir, "Default", "Cache")), false);

    // The old worker is fenced off: it cannot overwrite its successor's session.
    let superseded = false;
    const fenced = new SnapshotStore(
      new GatewayClient(gateway.url, "ins_1", "token", 1, () => (superseded = true)),
      first,
      log,
    );
    await assert.rejects(fenced.load(), EpochSuperseded);
    assert.equal(superseded, true);

    // A later save writes on top of the generation it read; a wipe leaves an empty generation, read as no session.
    await restored.storeRemoteSession();
    assert.equal(gateway.generations.length, 2);
    await next.delete({ session: "RemoteAuth" });
    assert.equal(gateway.generations.length, 2, "RemoteAuth's own delete is not a logout");
    await next.wipe();
    assert.equal(gateway.generations.at(-1)?.content.length, 0);
    const after = new SnapshotStore(new GatewayClient(gateway.url, "ins_1", "token", 2, () => undefined), second, log);
    assert.equal(await after.sessionExists({ session: "RemoteAuth" }), false);
  });

  it("refuses a snapshot whose bytes do not match its hash", async () => {
    gateway.corrupt = true;
    try {
      const store = new SnapshotStore(new GatewayClient(gateway.url, "ins_1", "token", 2, () => undefined), root, log);
      await assert.rejects(store.load(), /hash mismatch/);
    } finally {
      gateway.corrupt = false;
    }
  });
});
