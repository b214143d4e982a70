// A real HTTP server on loopback implementing the control plane's key-value state store (protocol §7), for tests
// that must go through the worker's real gateway client.

import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeStore {
  url: string;
  kv: Map<string, string>;
  calls: { get?: string[]; put?: Record<string, string>; delete?: string[]; clear?: boolean }[];
  close(): Promise<void>;
}

export async function startFakeStore(instanceId: string, token: string, epoch: number): Promise<FakeStore> {
  const kv = new Map<string, string>();
  const calls: FakeStore["calls"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${token}` || req.headers["x-worker-epoch"] !== String(epoch)) {
        return send(401, { code: "unauthorized" });
      }
      if (req.method !== "POST" || req.url !== `/internal/v1/instances/${instanceId}/state`)
        return send(404, { code: "not_found" });
      const batch = JSON.parse(Buffer.concat(chunks).toString("utf8")) as FakeStore["calls"][number];
      calls.push(batch);
      for (const key of [...(batch.get ?? []), ...(batch.delete ?? []), ...Object.keys(batch.put ?? {})]) {
        if (key.length < 1 || key.length > 255) return send(422, { code: "validation_error" });
      }
      for (const value of Object.values(batch.put ?? {})) {
        if (typeof value !== "string") return send(422, { code: "validation_error" });
      }
      // One transaction: clear, deletes, puts, then gets.
      if (batch.clear) kv.clear();
      for (const key of batch.delete ?? []) kv.delete(key);
      for (const [key, value] of Object.entries(batch.put ?? {})) kv.set(key, value);
      const values: Record<string, string | null> = {};
      for (const key of batch.get ?? []) values[key] = kv.get(key) ?? null;
      send(200, { values });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    kv,
    calls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
