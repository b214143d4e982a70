// The gateway → worker endpoints (docs/worker-protocol.md §4) on node:http: auth, parsing, the shape of answers.

import http from "node:http";
import { timingSafeEqual } from "node:crypto";
import type { Config } from "./config.js";
import { EpochSuperseded } from "./gateway.js";
import type { Logger } from "./log.js";
import { Problem, engineUnavailable, invalidRecipient, invalidRequest } from "./problems.js";
import { PRESENCE_STATES, isPhone, isRecipient, requireObject, validateSend, type PresenceState } from "./sends.js";
import type { WawebjsSession } from "./session.js";
import { PROTOCOL, PROVIDER, PROVIDER_VERSION } from "./version.js";

const MAX_BODY_BYTES = 150 * 1024 * 1024; // a 100 MB document, base64-encoded, and the rest of the send
const MAX_CONTACT_CHECKS = 50;
const MAX_READ_IDS = 1000;

export interface WorkerControl {
  readonly startedAt: string;
  readonly spooledEvents: number;
  requestShutdown(reason: string): void;
}

interface Answer {
  status: number;
  body?: unknown;
  raw?: { data: Buffer; contentType: string };
  afterSent?: () => void;
  headers?: Record<string, string>;
}

class Request {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly headers: http.IncomingHttpHeaders,
    private readonly body: Buffer,
  ) {}

  /** The body as JSON; `optional` allows an empty body (null). */
  json(optional = false): unknown {
    if (this.body.length === 0) {
      if (optional) return null;
      throw invalidRequest("A JSON body is required.");
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(this.body);
    } catch {
      throw invalidRequest("The body is not UTF-8.");
    }
    try {
      return JSON.parse(text);
    } catch {
      throw invalidRequest("The body is not valid JSON.");
    }
  }
}

type Endpoint = (request: Request) => Promise<Answer>;

export class Api {
  private readonly token: Buffer;
  private readonly routes: Map<string, Endpoint>;
  private server: http.Server | null = null;

  constructor(
    private readonly config: Config,
    private readonly session: WawebjsSession,
    private readonly worker: WorkerControl,
    private readonly log: Logger,
  ) {
    this.token = Buffer.from(`Bearer ${config.token}`);
    this.routes = new Map<string, Endpoint>([
      ["GET /v1/status", () => this.status()],
      ["GET /v1/qr", async () => ({ status: 200, body: this.session.currentQr() })],
      ["POST /v1/pair-code", (r) => this.pairCode(r)],
      ["POST /v1/messages", (r) => this.sendMessage(r)],
      ["POST /v1/read", (r) => this.read(r)],
      ["POST /v1/presence", (r) => this.presence(r)],
      ["POST /v1/contacts/check", (r) => this.checkContacts(r)],
      ["POST /v1/logout", () => this.logout()],
      ["POST /v1/shutdown", (r) => this.shutdown(r)],
    ]);
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = http.createServer((req, res) => void this.serve(req, res));
    server.keepAliveTimeout = 5_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        const address = server.address();
        if (address === null || typeof address === "string") return reject(new Error("no TCP address"));
        resolve({ host, port: address.port });
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let answer: Answer;
    try {
      answer = await this.handle(req);
    } catch (error) {
      if (error instanceof Problem) {
        answer = { status: error.status, body: error.body() };
      } else if (error instanceof EpochSuperseded) {
        // The worker is exiting with 75; the caller is a gateway that already knows why.
        answer = { status: 503, body: engineUnavailable("A newer worker owns this instance.").body() };
      } else {
        this.log.error("request failed", { method: req.method, path: req.url, error: String(error) });
        answer = { status: 500, body: new Problem(500, "internal_error", "The worker failed to answer.").body() };
      }
    }
    const headers: Record<string, string> = { ...answer.headers };
    let payload: Buffer | undefined;
    if (answer.raw) {
      payload = answer.raw.data;
      headers["content-type"] = answer.raw.contentType;
    } else if (answer.body !== undefined) {
      payload = Buffer.from(JSON.stringify(answer.body));
      const isProblem = answer.status >= 400;
      headers["content-type"] = isProblem ? "application/problem+json" : "application/json";
    }
    if (payload) headers["content-length"] = String(payload.length);
    res.writeHead(answer.status, headers);
    res.end(payload, () => answer.afterSent?.());
  }

  private async readBody(req: http.IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES)
        throw new Problem(413, "media_too_large", `Bodies are at most ${MAX_BODY_BYTES} bytes.`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  private async handle(req: http.IncomingMessage): Promise<Answer> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://worker");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    if (path === "/v1/health") {
      if (method !== "GET" && method !== "HEAD") return methodNotAllowed("GET");
      return { status: 200, body: { status: "ok" } };
    }
    const given = Buffer.from(req.headers.authorization ?? "");
    if (given.length !== this.token.length || !timingSafeEqual(given, this.token)) {
      throw new Problem(401, "unauthorized", "A valid `Authorization: Bearer` worker token is required.");
    }
    const endpoint = this.routes.get(`${method} ${path}`);
    if (endpoint) return endpoint(new Request(method, path, req.headers, await this.readBody(req)));
    if (path.startsWith("/v1/media/")) {
      if (method !== "GET" && method !== "HEAD") return methodNotAllowed("GET");
      const media = await this.session.mediaContent(decodeURIComponent(path.slice("/v1/media/".length)));
      return { status: 200, raw: { data: media.data, contentType: media.mimetype } };
    }
    const allowed = [...this.routes.keys()].filter((key) => key.endsWith(` ${path}`)).map((key) => key.split(" ")[0]!);
    if (allowed.length) return methodNotAllowed(allowed.join(", "));
    throw new Problem(404, "not_found", `No endpoint at ${path}.`);
  }

  private async status(): Promise<Answer> {
    return {
      status: 200,
      body: {
        instance_id: this.config.instanceId,
        epoch: this.config.epoch,
        provider: PROVIDER,
        provider_version: PROVIDER_VERSION,
        protocol: PROTOCOL,
        connection_state: this.session.state,
        me: this.session.me,
        spooled_events: this.worker.spooledEvents,
        started_at: this.worker.startedAt,
      },
    };
  }

  private async pairCode(request: Request): Promise<Answer> {
    const phone = requireObject(request.json()).phone;
    if (!isPhone(phone)) throw invalidRequest("`phone` must be a phone number: 6 to 15 digits.");
    return { status: 200, body: await this.session.requestPairCode(phone) };
  }

  private async sendMessage(request: Request): Promise<Answer> {
    const send = validateSend(request.json());
    return { status: 202, body: await this.session.send(send) };
  }

  private async read(request: Request): Promise<Answer> {
    const body = requireObject(request.json());
    const chat = body.chat;
    if (!isRecipient(chat)) throw invalidRecipient("`chat` must be a phone number or a WhatsApp JID.");
    const ids = body.message_ids;
    if (
      !Array.isArray(ids) ||
      ids.length < 1 ||
      ids.length > MAX_READ_IDS ||
      !ids.every((i) => typeof i === "string" && i)
    ) {
      throw invalidRequest(`\`message_ids\` must be a list of 1 to ${MAX_READ_IDS} message ids.`);
    }
    if (body.sender !== undefined && body.sender !== null && typeof body.sender !== "string") {
      throw invalidRequest("`sender` must be a string.");
    }
    // WhatsApp Web marks a whole chat read up to its newest message; the ids only say which chat is meant.
    await this.session.markRead(chat);
    return { status: 204 };
  }

  private async presence(request: Request): Promise<Answer> {
    const body = requireObject(request.json());
    const state = body.state;
    if (typeof state !== "string" || !(PRESENCE_STATES as readonly string[]).includes(state)) {
      throw invalidRequest(`\`state\` must be one of ${PRESENCE_STATES.join(", ")}.`);
    }
    const chat = body.chat;
    // Available/unavailable is the account's own presence; the others are about one chat.
    const accountWide = state === "available" || state === "unavailable";
    if (!(accountWide && (chat === undefined || chat === null)) && !isRecipient(chat)) {
      throw invalidRecipient("`chat` must be a phone number or a WhatsApp JID.");
    }
    await this.session.sendPresence(typeof chat === "string" ? chat : null, state as PresenceState);
    return { status: 204 };
  }

  private async checkContacts(request: Request): Promise<Answer> {
    const phones = requireObject(request.json()).phones;
    if (!Array.isArray(phones) || !phones.every((p) => typeof p === "string")) {
      throw invalidRequest("`phones` must be a list of phone numbers.");
    }
    if (phones.length > MAX_CONTACT_CHECKS) throw invalidRequest(`At most ${MAX_CONTACT_CHECKS} phones per check.`);
    const bad = phones.find((p) => !isPhone(p));
    if (bad !== undefined) throw invalidRecipient(`${JSON.stringify(bad)} is not a phone number (6 to 15 digits).`);
    if (phones.length === 0) return { status: 200, body: { results: [] } };
    return { status: 200, body: { results: await this.session.checkContacts(phones as string[]) } };
  }

  private async logout(): Promise<Answer> {
    await this.session.logout();
    return { status: 204 };
  }

  private async shutdown(request: Request): Promise<Answer> {
    const body = request.json(true);
    let reason = "requested";
    if (body !== null) {
      const given = requireObject(body).reason;
      if (given !== undefined && given !== null && typeof given !== "string")
        throw invalidRequest("`reason` must be a string.");
      if (given) reason = given;
    }
    return { status: 202, body: { status: "shutting_down" }, afterSent: () => this.worker.requestShutdown(reason) };
  }
}

function methodNotAllowed(allowed: string): Answer {
  return {
    status: 405,
    body: new Problem(405, "method_not_allowed", `Allowed: ${allowed}.`).body(),
    headers: { allow: allowed },
  };
}
