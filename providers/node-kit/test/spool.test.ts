// The event spool, the sent log and the data directory lock: what is on disk survives a restart (and a crash mid-write) exactly once.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Journal, SentLog } from "../src/journal.js";
import type { LogSink } from "../src/log.js";
import { Spool, lockDirectory } from "../src/spool.js";

const quiet = (): void => undefined;
const log: LogSink = { debug: quiet, info: quiet, warning: quiet, error: quiet };
const root = fs.mkdtempSync(path.join(os.tmpdir(), "node-kit-spool-"));
const tmp = (): string => fs.mkdtempSync(path.join(root, "case-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const event = (n: number) => ({
  id: `evt_${n}`,
  type: "instance.status",
  timestamp: "2026-11-26T10:00:00Z",
  data: { n },
});

describe("the event spool", () => {
  it("delivers in order, forgets what was acknowledged, and keeps the rest across a restart", () => {
    const dir = tmp();
    const spool = new Spool(dir, log);
    spool.append([event(1), event(2)]);
    spool.append([event(3)]);
    assert.equal(spool.pending, 3);
    const first = spool.peek(2);
    assert.deepEqual(
      first.events.map((e) => e.id),
      ["evt_1", "evt_2"],
    );
    spool.ack(first);
    assert.equal(spool.pending, 1);
    spool.close();

    const again = new Spool(dir, log);
    assert.equal(again.pending, 1);
    assert.deepEqual(
      again.peek(10).events.map((e) => e.id),
      ["evt_3"],
    );
    again.ack(again.peek(10));
    assert.equal(again.pending, 0);
    again.append([event(4)]);
    again.close();
    assert.deepEqual(
      new Spool(dir, log).peek(10).events.map((e) => e.id),
      ["evt_4"],
    );
  });

  it("cuts off a torn last line left by a crash mid-append", () => {
    const dir = tmp();
    const spool = new Spool(dir, log);
    spool.append([event(1)]);
    spool.close();
    const file = fs.readdirSync(dir).find((name) => name.startsWith("events-"))!;
    fs.appendFileSync(path.join(dir, file), '{"id":"evt_2","type":"ins');
    const recovered = new Spool(dir, log);
    assert.equal(recovered.pending, 1);
    recovered.append([event(3)]);
    assert.deepEqual(
      recovered.peek(10).events.map((e) => e.id),
      ["evt_1", "evt_3"],
    );
  });

  it("compacts: a fully delivered file is replaced by an empty generation", () => {
    const dir = tmp();
    const spool = new Spool(dir, log);
    for (let n = 0; n < 50; n++) spool.append([event(n)]);
    spool.ack(spool.peek(500));
    const files = fs.readdirSync(dir).filter((name) => name.startsWith("events-"));
    assert.equal(files.length, 1);
    assert.equal(fs.statSync(path.join(dir, files[0]!)).size, 0);
    assert.equal(spool.pending, 0);
  });
});

describe("the sent log", () => {
  it("answers a repeated client id with the first result, and maps provider ids back, after a restart", () => {
    const file = path.join(tmp(), "sent.jsonl");
    const sent = new SentLog(file, log);
    sent.put({ id: "msg_1", provider_message_id: "true_31612345678@c.us_3EB0A", status: "sent" });
    sent.close();
    const reopened = new SentLog(file, log);
    assert.deepEqual(reopened.get("msg_1"), {
      id: "msg_1",
      provider_message_id: "true_31612345678@c.us_3EB0A",
      status: "sent",
    });
    assert.equal(reopened.clientIdOf("true_31612345678@c.us_3EB0A"), "msg_1");
    assert.equal(reopened.get("msg_2"), undefined);
  });

  it("ignores a torn last line (a send that was never answered)", () => {
    const file = path.join(tmp(), "sent.jsonl");
    const sent = new SentLog(file, log);
    sent.put({ id: "msg_1", provider_message_id: "msg_1", status: "sent" });
    sent.close();
    fs.appendFileSync(file, '{"key":"msg_2","val');
    const again = new SentLog(file, log);
    assert.deepEqual(again.get("msg_1"), { id: "msg_1", provider_message_id: "msg_1", status: "sent" });
    assert.equal(again.get("msg_2"), undefined);
    assert.equal(again.clientIdOf("msg_1"), "msg_1");
  });

  it("reads the `{id, result}` lines of the Baileys worker's former sent log", () => {
    const file = path.join(tmp(), "sent.jsonl");
    const result = { id: "msg_1", provider_message_id: "3EB0ABC", status: "sent" };
    fs.writeFileSync(file, JSON.stringify({ id: "msg_1", result }) + "\n");
    const sent = new SentLog(file, log);
    assert.deepEqual(sent.get("msg_1"), result);
    assert.equal(sent.clientIdOf("3EB0ABC"), "msg_1");
    sent.close();
    // rewritten in the current format on open, since nothing is lost by it
    assert.deepEqual(new Journal(file, log).get("msg_1"), result);
  });
});

describe("a journal", () => {
  it("keeps the newest entries, the last write of a key winning", () => {
    const file = path.join(tmp(), "index.jsonl");
    const journal = new Journal<number>(file, log, 3);
    for (let n = 0; n < 10; n++) journal.put(`k${n % 5}`, n);
    journal.close();
    const again = new Journal<number>(file, log, 3);
    assert.deepEqual(
      [...again.values()],
      [
        ["k2", 7],
        ["k3", 8],
        ["k4", 9],
      ],
    );
  });
});

describe("the data directory lock", () => {
  it("is exclusive while held, released by its release, and taken over from a dead holder", async () => {
    const dir = tmp();
    const release = await lockDirectory(dir, 1_000, log);
    fs.writeFileSync(path.join(dir, ".lock.pid"), String(process.ppid));
    await assert.rejects(lockDirectory(dir, 300, log), /in use by process/);
    fs.writeFileSync(path.join(dir, ".lock.pid"), String(process.pid));
    release();
    assert.equal(fs.existsSync(path.join(dir, ".lock.pid")), false);
    fs.writeFileSync(path.join(dir, ".lock.pid"), "2147483646"); // no such process
    const again = await lockDirectory(dir, 1_000, log);
    assert.equal(fs.readFileSync(path.join(dir, ".lock.pid"), "utf8"), String(process.pid));
    again();
  });
});
