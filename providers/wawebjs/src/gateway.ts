// Calls to the control plane's internal API for this instance (docs/worker-protocol.md §2, §6, §7).
//
// Every call goes through `GatewayClient.call`, so the fencing rule holds everywhere: the first
// `409 epoch_superseded` marks the client superseded and tells the worker, and every later call fails at once.

import { createHash } from "node:crypto";
import { EpochSuperseded, GatewayUnavailable } from "@wagw/node-kit";

// The errors are node-kit's, so the shared event sink recognises them.
export { EpochSuperseded, GatewayUnavailable };

export interface GatewayAnswer {
  status: number;
  headers: Headers;
  body: Buffer;
}

export function answerJson(answer: GatewayAnswer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(answer.body.toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

export function answerCode(answer: GatewayAnswer): string {
  const code = answerJson(answer).code;
  return typeof code === "string" ? code : "";
}

export interface Snapshot {
  content: Buffer;
  generation: number;
}

export class SnapshotConflict extends Error {}

export class GatewayClient {
  superseded = false;
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(
    gatewayUrl: string,
    instanceId: string,
    token: string,
    epoch: number,
    private readonly onSuperseded: () => void,
  ) {
    this.base = `${gatewayUrl}/internal/v1/instances/${encodeURIComponent(instanceId)}`;
    this.headers = { authorization: `Bearer ${token}`, "x-worker-epoch": String(epoch) };
  }

  async call(
    method: string,
    path: string,
    options: { json?: unknown; body?: Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<GatewayAnswer> {
    if (this.superseded) throw new EpochSuperseded();
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    let body: Uint8Array | string | undefined = options.body ? new Uint8Array(options.body) : undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["content-type"] = "application/json";
    }
    let response: Response;
    let content: Buffer;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: body as BodyInit | undefined,
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      });
      content = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      if (this.superseded) throw new EpochSuperseded();
      throw new GatewayUnavailable(`${method} ${path}: ${(error as Error).message}`);
    }
    if (this.superseded) throw new EpochSuperseded();
    const answer = { status: response.status, headers: response.headers, body: content };
    if (answer.status === 409 && answerCode(answer) === "epoch_superseded") {
      this.superseded = true;
      this.onSuperseded();
      throw new EpochSuperseded();
    }
    return answer;
  }

  async postEvents(events: object[]): Promise<{ status: number; code: string }> {
    const answer = await this.call("POST", "/events", { json: { events }, timeoutMs: 30_000 });
    return { status: answer.status, code: answerCode(answer) };
  }

  /** One key-value batch (§7); the values it read. */
  async state(batch: Record<string, unknown>): Promise<Record<string, string | null>> {
    const answer = await this.call("POST", "/state", { json: batch });
    if (answer.status !== 200)
      throw new GatewayUnavailable(`state store answered ${answer.status} ${answerCode(answer)}`);
    const values = answerJson(answer).values;
    const out: Record<string, string | null> = {};
    if (typeof values === "object" && values !== null) {
      for (const [key, value] of Object.entries(values)) out[key] = typeof value === "string" ? value : null;
    }
    return out;
  }

  /** The newest generation of a snapshot, hash-checked; null when there is none. */
  async getSnapshot(name: string): Promise<Snapshot | null> {
    const answer = await this.call("GET", `/snapshots/${encodeURIComponent(name)}`, { timeoutMs: 120_000 });
    if (answer.status === 404) return null;
    if (answer.status !== 200) {
      throw new GatewayUnavailable(`snapshot read answered ${answer.status} ${answerCode(answer)}`);
    }
    const claimed = (answer.headers.get("x-content-sha256") ?? "").toLowerCase();
    const actual = sha256Hex(answer.body);
    if (claimed !== actual) throw new GatewayUnavailable(`snapshot ${name}: hash mismatch (${claimed} != ${actual})`);
    const generation = Number(answer.headers.get("x-generation"));
    if (!Number.isInteger(generation) || generation < 1) {
      throw new GatewayUnavailable(`snapshot ${name}: no usable X-Generation`);
    }
    return { content: answer.body, generation };
  }

  /** Store a new generation based on `ifMatch`; its generation number. */
  async putSnapshot(name: string, content: Buffer, ifMatch: number): Promise<number> {
    const answer = await this.call("PUT", `/snapshots/${encodeURIComponent(name)}`, {
      body: content,
      headers: {
        "content-type": "application/octet-stream",
        "x-content-sha256": sha256Hex(content),
        "if-match": String(ifMatch),
      },
      timeoutMs: 300_000,
    });
    if (answer.status === 412) throw new SnapshotConflict(`snapshot ${name}: generation ${ifMatch} is not the newest`);
    if (answer.status !== 201 && answer.status !== 200) {
      throw new GatewayUnavailable(`snapshot write answered ${answer.status} ${answerCode(answer)}`);
    }
    const generation = answerJson(answer).generation;
    if (typeof generation !== "number") throw new GatewayUnavailable("snapshot write answered without a generation");
    return generation;
  }
}

export function sha256Hex(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}
