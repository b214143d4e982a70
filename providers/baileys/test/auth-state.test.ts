import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { addTransactionCapability, initAuthCreds, proto, type AuthenticationCreds } from "baileys";

import { StoredAuthState, storeKey } from "../src/auth-state.js";
import { GatewayClient } from "../src/gateway.js";
import { Logger, engineLogger } from "../src/log.js";
import { startFakeStore, type FakeStore } from "./fake-store.js";

const log = new Logger("error");
let store: FakeStore;
let gateway: GatewayClient;

before(async () => {
  store = await startFakeStore("ins_TEST", "secret", 3);
  gateway = new GatewayClient(store.url, "ins_TEST", "secret", 3, () => undefined);
});
after(() => store.close());

function bytes(n: number, fill: number): Buffer {
  return Buffer.alloc(n, fill);
}

test("credentials and every signal key type survive a round trip through the state store, Buffers included", async () => {
  store.kv.clear();
  const first = new StoredAuthState(gateway, log);
  await first.load();
  assert.equal(first.hadSession, false);
  // What a paired device's credentials hold: key pairs, an ADV identity (protobuf bytes), a me with a LID.
  first.creds.me = { id: "14155550100:7@s.whatsapp.net", lid: "123456789012345:7@lid", name: "Acme" };
  first.creds.account = {
    details: bytes(40, 1),
    accountSignatureKey: bytes(32, 2),
    accountSignature: bytes(64, 3),
    deviceSignature: bytes(64, 4),
  };
  first.creds.routingInfo = bytes(12, 5);
  await first.saveCreds();

  const appStateKey = proto.Message.AppStateSyncKeyData.fromObject({
    keyData: bytes(32, 6),
    fingerprint: { rawId: 7, currentIndex: 1, deviceIndexes: [0, 7] },
    timestamp: 1764151200,
  });
  await first.keys.set({
    "pre-key": { "1": { public: bytes(32, 8), private: bytes(32, 9) } },
    session: { "14155550100.0": bytes(300, 10) },
    "sender-key": { "120363000000000000@g.us::14155550100::0": bytes(120, 11) },
    "sender-key-memory": { "120363000000000000@g.us": { "14155550100:0@s.whatsapp.net": true } },
    "app-state-sync-key": { AAAAAAAH: appStateKey },
    "app-state-sync-version": {
      regular: { version: 3, hash: bytes(128, 12), indexValueMap: { abc: { valueMac: bytes(32, 13) } } },
    },
    "lid-mapping": { "14155550100": "123456789012345", "123456789012345_reverse": "14155550100" },
    "device-list": { "14155550100": ["0", "7"] },
    tctoken: { "14155550100@s.whatsapp.net": { token: bytes(20, 14), timestamp: "1764151200" } },
    "identity-key": { "14155550100.0": bytes(33, 15) },
  });

  // Every value is a string (the protocol's only value type) with the bytes as base64.
  for (const value of store.kv.values()) assert.equal(typeof value, "string");
  assert.match(store.kv.get("pre-key:1")!, /"type":"Buffer","data":"[A-Za-z0-9+/=]+"/);

  const second = new StoredAuthState(gateway, log);
  const state = await second.load();
  assert.equal(second.hadSession, true);
  const creds: AuthenticationCreds = state.creds;
  assert.ok(Buffer.isBuffer(creds.noiseKey.private));
  assert.deepEqual(creds.noiseKey.private, Buffer.from(first.creds.noiseKey.private));
  assert.deepEqual(creds.signedIdentityKey.public, Buffer.from(first.creds.signedIdentityKey.public));
  assert.deepEqual(creds.signedPreKey.signature, Buffer.from(first.creds.signedPreKey.signature));
  assert.equal(creds.registrationId, first.creds.registrationId);
  assert.equal(creds.advSecretKey, first.creds.advSecretKey);
  assert.deepEqual(creds.me, first.creds.me);
  assert.deepEqual(creds.account?.deviceSignature, bytes(64, 4));
  assert.deepEqual(creds.routingInfo, bytes(12, 5));

  const preKeys = await state.keys.get("pre-key", ["1", "2"]);
  assert.deepEqual(preKeys["1"], { public: bytes(32, 8), private: bytes(32, 9) });
  assert.equal(preKeys["2"], undefined);
  assert.deepEqual((await state.keys.get("session", ["14155550100.0"]))["14155550100.0"], bytes(300, 10));
  assert.deepEqual(
    (await state.keys.get("sender-key", ["120363000000000000@g.us::14155550100::0"]))[
      "120363000000000000@g.us::14155550100::0"
    ],
    bytes(120, 11),
  );
  assert.deepEqual(
    (await state.keys.get("sender-key-memory", ["120363000000000000@g.us"]))["120363000000000000@g.us"],
    {
      "14155550100:0@s.whatsapp.net": true,
    },
  );
  const revived = (await state.keys.get("app-state-sync-key", ["AAAAAAAH"]))["AAAAAAAH"]!;
  assert.ok(
    revived instanceof proto.Message.AppStateSyncKeyData,
    "app-state-sync-key comes back as its protobuf class",
  );
  assert.deepEqual(Buffer.from(revived.keyData!), bytes(32, 6));
  assert.equal(revived.fingerprint?.rawId, 7);
  const version = (await state.keys.get("app-state-sync-version", ["regular"]))["regular"]!;
  assert.deepEqual(version.hash, bytes(128, 12));
  assert.deepEqual(version.indexValueMap.abc!.valueMac, bytes(32, 13));
  assert.equal((await state.keys.get("lid-mapping", ["14155550100"]))["14155550100"], "123456789012345");
  assert.deepEqual((await state.keys.get("device-list", ["14155550100"]))["14155550100"], ["0", "7"]);
  assert.deepEqual(
    (await state.keys.get("tctoken", ["14155550100@s.whatsapp.net"]))["14155550100@s.whatsapp.net"]!.token,
    bytes(20, 14),
  );
  assert.deepEqual((await state.keys.get("identity-key", ["14155550100.0"]))["14155550100.0"], bytes(33, 15));
});

test("each set is one atomic state batch, deletes included, and reads are cached", async () => {
  store.kv.clear();
  const auth = new StoredAuthState(gateway, log);
  await auth.load();
  await auth.keys.set({ "pre-key": { "5": { public: bytes(32, 1), private: bytes(32, 2) } } });
  const before = store.calls.length;
  await auth.keys.set({
    "pre-key": { "5": null, "6": { public: bytes(32, 3), private: bytes(32, 4) } },
    session: { "14155550100.0": bytes(10, 5) },
  });
  assert.equal(store.calls.length, before + 1, "one call for one set");
  const call = store.calls.at(-1)!;
  assert.deepEqual(call.delete, ["pre-key:5"]);
  assert.deepEqual(Object.keys(call.put!).sort(), ["pre-key:6", "session:14155550100.0"]);
  assert.equal(store.kv.has("pre-key:5"), false);

  const reads = store.calls.length;
  await auth.keys.get("pre-key", ["5", "6", "7"]);
  await auth.keys.get("pre-key", ["5", "6", "7"]);
  assert.equal(store.calls.length, reads + 1, "written keys are served from the cache; one read for the unknown one");
});

test("Baileys' own transaction wrapper commits through the store", async () => {
  store.kv.clear();
  const auth = new StoredAuthState(gateway, log);
  await auth.load();
  const keys = addTransactionCapability(auth.keys, engineLogger(log), { maxCommitRetries: 1, delayBetweenTriesMs: 10 });
  await keys.transaction(async () => {
    await keys.set({ session: { "4915112345678.0": bytes(64, 9) } });
  }, "test");
  assert.ok(store.kv.get("session:4915112345678.0")?.includes('"type":"Buffer"'));
});

test("clear wipes every key and starts from fresh credentials", async () => {
  const auth = new StoredAuthState(gateway, log);
  await auth.load();
  await auth.keys.set({ session: { "1.0": bytes(8, 1) } });
  const oldNoise = Buffer.from(auth.creds.noiseKey.public);
  await auth.clear();
  assert.equal(store.kv.size, 0);
  assert.equal(store.calls.at(-1)?.clear, true);
  assert.notDeepEqual(Buffer.from(auth.creds.noiseKey.public), oldNoise);
  assert.deepEqual(await auth.keys.get("session", ["1.0"]), {});
});

test("ids that would not make a valid store key are hashed", () => {
  assert.equal(storeKey("session", "14155550100.0"), "session:14155550100.0");
  const long = storeKey("sender-key", "x".repeat(300));
  assert.ok(long.length <= 255);
  assert.match(long, /^sender-key:#[0-9a-f]{64}$/);
  assert.match(storeKey("session", "has space"), /^session:#/);
});

test("fresh credentials are Baileys' initAuthCreds shape", async () => {
  store.kv.clear();
  const auth = new StoredAuthState(gateway, log);
  const state = await auth.load();
  const reference = initAuthCreds();
  assert.deepEqual(Object.keys(state.creds).sort(), Object.keys(reference).sort());
});
