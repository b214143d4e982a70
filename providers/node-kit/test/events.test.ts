// The event sink over a real spool and a stand-in gateway: order, retries, fencing, flush.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { EventSink } from "../src/events.js";
import { EpochSuperseded, GatewayUnavailable, type EventGateway } from "../src/gateway.js";
import type { LogSink } from "../src/log.js";
import { Spool } from "../src/spool.js";

const quiet = (): void => undefined;
const log: LogSink = { debug: quiet, info: quiet, warning: quiet, error: quiet };
const root = fs.mkdtempSync(path.join(os.tmpdir(), "node-kit-events-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Answers each batch with the next of `answers` (an Error is thrown), then 200. */
class FakeGateway implements EventGateway {
  superseded = false;
  readonly delivered: Record<string, unknown>[] = [];
  constructor(private readonly answers: (number | Error)[] = []) {}
  async postEvents(events: Record<string, unknown>[]): Promise<{ status: number }> {
    const next = this.answers.shift() ?? 200;
    if (next instanceof EpochSuperseded) this.superseded = true;
    if (next instanceof Error) throw next;
    if (next === 200) this.delivered.push(...events);
    return { status: next };
  }
}

describe("the event sink", () => {
  it("delivers in emission order, retrying through outages and refusals, and flushes", async () => {
    const spool = new Spool(fs.mkdtempSync(path.join(root, "case-")), log);
    const gateway = new FakeGateway([new GatewayUnavailable("down"), 503, 401]);
    const sink = new EventSink(spool, gateway, log);
    for (let n = 0; n < 3; n++) sink.emit("instance.status", { n });
    assert.equal(sink.spooled, 3);
    const delivery = sink.run();
    assert.equal(await sink.flush(10), true);
    sink.emit("instance.status", { n: 3 }, "evt_fixed");
    assert.equal(await sink.flush(10), true);
    sink.stop();
    await delivery;
    assert.deepEqual(
      gateway.delivered.map((event) => (event.data as { n: number }).n),
      [0, 1, 2, 3],
    );
    assert.equal(gateway.delivered[3]!.id, "evt_fixed");
    assert.match(String(gateway.delivered[0]!.id), /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(spool.pending, 0);
    spool.close();
  });

  it("stops when superseded, keeps what was not delivered, and spools nothing more", async () => {
    const spool = new Spool(fs.mkdtempSync(path.join(root, "case-")), log);
    const gateway = new FakeGateway([new EpochSuperseded()]);
    const sink = new EventSink(spool, gateway, log);
    sink.emit("instance.status", { n: 0 });
    await sink.run();
    sink.emit("instance.status", { n: 1 });
    assert.equal(spool.pending, 1);
    assert.equal(await sink.flush(1), false);
    spool.close();
  });
});
