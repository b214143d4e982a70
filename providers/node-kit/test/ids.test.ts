import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { derivedId, newEventId, ulid } from "../src/ids.js";

describe("ids", () => {
  it("ULIDs sort by creation time", () => {
    assert.match(ulid(), /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.ok(ulid(1_000) < ulid(2_000));
    assert.match(newEventId(), /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it("derived ids are the same for the same news, and differ otherwise", () => {
    assert.equal(derivedId("evt", "a", "b"), derivedId("evt", "a", "b"));
    assert.notEqual(derivedId("evt", "a", "b"), derivedId("evt", "ab"));
    assert.match(derivedId("evt", "x"), /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
  });
});
