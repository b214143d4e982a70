// Calls to the control plane's internal API for this instance (protocol §2, §6, §7). Every call goes through
// `call`, so the fencing rule holds everywhere: the first `409 epoch_superseded` marks the client superseded, tells
// the worker, and every later call fails without touching the network.

import { EpochSuperseded, GatewayUnavailable } from "@wagw/node-kit";

// The errors are node-kit's, so the shared event sink recognises them.
export { EpochSuperseded, GatewayUnavailable };

export interface GatewayAnswer {
  status: number;
  body: unknown;
  code: string;
  detail: string;
}

export type StateValues = Record<string, string | null>;

export interface StateBatch {
  get?: string[];
  put?: Record<string, string>;
  delete?: string[];
  clear?: boolean;
}

/** What the auth state and the session need from the control plane's key-value store. */
export interface StateStore {
  state(batch: StateBatch): Promise<StateValues>;
}

export class GatewayClient implements StateStore {
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

  async call(method: string, path: string, payload?: unknown, timeLimitSeconds = 15): Promise<GatewayAnswer> {
    if (this.superseded) throw new EpochSuperseded();
    const headers: Record<string, string> = { ...this.headers };
    let body: string | undefined;
    if (payload !== undefined) {
      body = JSON.stringify(payload);
      headers["content-type"] = "application/json";
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(timeLimitSeconds * 1000),
      });
      text = await response.text();
    } catch (error) {
      if (this.superseded) throw new EpochSuperseded();
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new GatewayUnavailable(`${method} ${path}: ${cause ?? (error as Error).message}`);
    }
    if (this.superseded) throw new EpochSuperseded();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    const object = parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
    const answer: GatewayAnswer = {
      status: response.status,
      body: parsed,
      code: typeof object.code === "string" ? object.code : "",
      detail: typeof object.detail === "string" ? object.detail : text.slice(0, 200),
    };
    if (answer.status === 409 && answer.code === "epoch_superseded") {
      this.superseded = true;
      this.onSuperseded();
      throw new EpochSuperseded();
    }
    return answer;
  }

  postEvents(events: unknown[]): Promise<GatewayAnswer> {
    return this.call("POST", "/events", { events }, 30);
  }

  async state(batch: StateBatch): Promise<StateValues> {
    const answer = await this.call("POST", "/state", batch);
    if (answer.status < 200 || answer.status >= 300) {
      throw new GatewayUnavailable(`state store answered ${answer.status} ${answer.code}`.trim());
    }
    const values = (answer.body as { values?: unknown } | null)?.values;
    const out: StateValues = {};
    if (values && typeof values === "object") {
      for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
        out[key] = typeof value === "string" ? value : null;
      }
    }
    return out;
  }
}
