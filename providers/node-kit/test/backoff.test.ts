import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Backoff, sleep } from "../src/backoff.js";

describe("backoff", () => {
  it("doubles up to the cap, and starts over after a reset", () => {
    const backoff = new Backoff(0.5, 3, 0);
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next()], [0.5, 1, 2, 3]);
    backoff.reset();
    assert.equal(backoff.next(), 0.5);
  });

  it("spreads each delay by at most the jitter", () => {
    assert.equal(new Backoff(1, 8, 0.1, () => 0).next(), 0.9);
    assert.equal(new Backoff(1, 8, 0.1, () => 1).next(), 1.1);
  });

  it("sleeps until aborted", async () => {
    const abort = new AbortController();
    const started = Date.now();
    setTimeout(() => abort.abort(), 20);
    await sleep(30, abort.signal);
    assert.ok(Date.now() - started < 5_000);
  });
});
