// The gateway → worker endpoints (protocol §4) on node:http: auth, parsing, and the shape of answers.

import { timingSafeEqual } from "node:crypto";
import * as http from "node:http";

import { PROTOCOL, PROVIDER, PROVIDER_VERSION } from "./version.js";
import type { Config } from "./config.js";
import { EpochSuperseded } from "./gateway.js";
import type { Logger } from "./log.js";
import type { MediaStore } from "./media.js";
import { Problem, engineUnavailable, invalidRequest } from "./problems.js";
import { PRESENCE_STATES, isPhone, isRecipient, requireObject, validateSend } from "./sends.js";
import type { BaileysSession } from "./session.js";

const MAX_CONTACT_CHECKS = 50;
const MAX_READ_IDS = 1000;
// A 100 MB document as base64, plus the rest of the body.
const MAX_BODY_BYTES = 140 * 1024 * 1024;

export interface WorkerControl {
  startedAt: string;
  readonly spooledEvents: number;
  requestShutdown(reason: string): void;
}

interface Request {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Answer {
  status: number;
  body?: Buffer | string;
  contentType?: string;
  headers?: Record<string, string>;
  afterSent?: () => void;
}

const json = (status: number, value: unknown, afterSent?: () => void): Answer => ({
  status,
  body: JSON.stringify(value),
  contentType: "application/json",
  ...(afterSent ? { afterSent } : {}),
});

function problemAnswer(problem: Problem, headers?: Record<string, string>): Answer {
  return {
    status: problem.status,
    body: JSON.stringify(problem.document()),
    contentType: "application/problem+json",
    ...(headers ? { headers } : {}),
  };
}

function parseJson(body: Buffer, optional = false): unknown {
  if (!body.length) {
    if (optional) return undefined;
    throw invalidRequest("The body must be a JSON object.");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw invalidRequest("The body is not UTF-8.");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidRequest("The body is not valid JSON.");
  }
}

export class Api {
  private readonly token: Buffer;
  private readonly routes: Map<string, (request: Request) => Promise<Answer>>;

  constructor(
    private readonly config: Config,
    private readonly session: BaileysSession,
    private readonly media: MediaStore,
    private readonly worker: WorkerControl,
    private readonly log: Logger,
  ) {
    this.token = Buffer.from(`Bearer ${config.token}`);
    this.routes = new Map<string, (request: Request) => Promise<Answer>>([
      ["GET /v1/status", () => this.status()],
      ["GET /v1/qr", async () => json(200, this.session.currentQr())],
      ["POST /v1/pair-code", (r) => this.pairCode(r)],
      ["POST /v1/messages", (r) => this.sendMessage(r)],
      ["POST /v1/read", (r) => this.read(r)],
      ["POST /v1/presence", (r) => this.presence(r)],
      ["POST /v1/contacts/check", (r) => this.checkContacts(r)],
      ["POST /v1/logout", () => this.logout()],
      ["POST /v1/shutdown", (r) => this.shutdown(r)],
    ]);
  }

  /** The node:http handler. */
  listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void this.serve(req, res);
  };

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let answer: Answer;
    try {
      const body = await readBody(req);
      const path = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
      answer = await this.handle({ method: req.method ?? "GET", path, headers: req.headers, body });
    } catch (error) {
      if (error instanceof Problem) answer = problemAnswer(error);
      else if (error instanceof EpochSuperseded) {
        // The worker is exiting with 75; the caller is a gateway that already knows why.
        answer = problemAnswer(engineUnavailable("A newer worker owns this instance."));
      } else {
        this.log.error("request failed", { error: String(error), stack: (error as Error).stack });
        answer = problemAnswer(new Problem(500, "internal_error", "The worker failed to handle the request."));
      }
    }
    const headers: Record<string, string> = { ...(answer.headers ?? {}) };
    if (answer.contentType) headers["content-type"] = answer.contentType;
    const payload =
      answer.body === undefined ? undefined : typeof answer.body === "string" ? Buffer.from(answer.body) : answer.body;
    headers["content-length"] = String(payload?.length ?? 0);
    res.writeHead(answer.status, headers);
    res.end(req.method === "HEAD" ? undefined : payload, () => answer.afterSent?.());
  }

  async handle(request: Request): Promise<Answer> {
    const { method, path } = request;
    if (path === "/v1/health") {
      if (method !== "GET" && method !== "HEAD")
        return problemAnswer(new Problem(405, "method_not_allowed", "Allowed: GET."), { allow: "GET" });
      return json(200, { status: "ok" });
    }
    const given = Buffer.from(String(request.headers.authorization ?? ""));
    if (given.length !== this.token.length || !timingSafeEqual(given, this.token)) {
      throw new Problem(401, "unauthorized", "A valid `Authorization: Bearer` worker token is required.");
    }
    const endpoint = this.routes.get(`${method} ${path}`);
    if (endpoint) return endpoint(request);
    if (path.startsWith("/v1/media/")) {
      if (method !== "GET" && method !== "HEAD")
        return problemAnswer(new Problem(405, "method_not_allowed", "Allowed: GET."), { allow: "GET" });
      return this.mediaBytes(decodeURIComponent(path.slice("/v1/media/".length)));
    }
    const allowed = [...this.routes.keys()].filter((k) => k.endsWith(` ${path}`)).map((k) => k.split(" ")[0]!);
    if (allowed.length) {
      return problemAnswer(new Problem(405, "method_not_allowed", `Allowed: ${allowed.join(", ")}.`), {
        allow: allowed.join(", "),
      });
    }
    throw new Problem(404, "not_found", `No endpoint at ${path}.`);
  }

  private async status(): Promise<Answer> {
    return json(200, {
      instance_id: this.config.instanceId,
      epoch: this.config.epoch,
      provider: PROVIDER,
      provider_version: PROVIDER_VERSION,
      protocol: PROTOCOL,
      connection_state: this.session.state,
      me: this.session.me,
      spooled_events: this.worker.spooledEvents,
      started_at: this.worker.startedAt,
    });
  }

  private async pairCode(request: Request): Promise<Answer> {
    const body = requireObject(parseJson(request.body));
    if (!isPhone(body.phone)) throw invalidRequest("`phone` must be a phone number: 6 to 15 digits.");
    return json(200, await this.session.requestPairCode(body.phone));
  }

  private async sendMessage(request: Request): Promise<Answer> {
    const send = validateSend(parseJson(request.body));
    return json(202, await this.session.send(send));
  }

  private async read(request: Request): Promise<Answer> {
    const body = requireObject(parseJson(request.body));
    if (!isRecipient(body.chat))
      throw new Problem(422, "invalid_recipient", "`chat` must be a phone number or a WhatsApp JID.");
    const ids = body.message_ids;
    if (
      !Array.isArray(ids) ||
      ids.length < 1 ||
      ids.length > MAX_READ_IDS ||
      !ids.every((i) => typeof i === "string" && i)
    ) {
      throw invalidRequest(`\`message_ids\` must be a list of 1 to ${MAX_READ_IDS} message ids.`);
    }
    const sender = body.sender;
    if (sender !== undefined && sender !== null && !isRecipient(sender)) {
      throw new Problem(422, "invalid_recipient", "`sender` must be a phone number or a WhatsApp JID.");
    }
    await this.session.markRead(body.chat, ids as string[], typeof sender === "string" ? sender : undefined);
    return { status: 204 };
  }

  private async presence(request: Request): Promise<Answer> {
    const body = requireObject(parseJson(request.body));
    const state = body.state;
    if (typeof state !== "string" || !(PRESENCE_STATES as readonly string[]).includes(state)) {
      throw invalidRequest(`\`state\` must be one of ${PRESENCE_STATES.join(", ")}.`);
    }
    const chat = body.chat;
    // Available/unavailable is the account's own presence; the others are about one chat.
    if (
      !((chat === undefined || chat === null) && (state === "available" || state === "unavailable")) &&
      !isRecipient(chat)
    ) {
      throw new Problem(422, "invalid_recipient", "`chat` must be a phone number or a WhatsApp JID.");
    }
    await this.session.sendPresence(
      typeof chat === "string" ? chat : undefined,
      state as (typeof PRESENCE_STATES)[number],
    );
    return { status: 204 };
  }

  private async checkContacts(request: Request): Promise<Answer> {
    const body = requireObject(parseJson(request.body));
    const phones = body.phones;
    if (!Array.isArray(phones) || !phones.every((p) => typeof p === "string")) {
      throw invalidRequest("`phones` must be a list of phone numbers.");
    }
    if (phones.length > MAX_CONTACT_CHECKS) throw invalidRequest(`At most ${MAX_CONTACT_CHECKS} phones per check.`);
    if (!phones.every(isPhone)) throw invalidRequest("Each phone must be 6 to 15 digits.");
    if (!phones.length) return json(200, { results: [] });
    return json(200, await this.session.checkContacts(phones as string[]));
  }

  private async mediaBytes(mediaId: string): Promise<Answer> {
    const stored = this.media.find(mediaId);
    if (!stored) throw new Problem(404, "media_not_found", `No media ${JSON.stringify(mediaId)}.`);
    try {
      const data = await this.media.bytes(stored);
      return { status: 200, body: data, contentType: stored.mimetype };
    } catch (error) {
      throw engineUnavailable(`The media could not be fetched from WhatsApp: ${(error as Error).message}`);
    }
  }

  private async logout(): Promise<Answer> {
    await this.session.logout();
    return { status: 204 };
  }

  private async shutdown(request: Request): Promise<Answer> {
    const body = parseJson(request.body, true);
    let reason = "requested";
    if (body !== undefined && body !== null) {
      const given = requireObject(body).reason;
      if (given !== undefined && given !== null && typeof given !== "string")
        throw invalidRequest("`reason` must be a string.");
      if (given) reason = given;
    }
    return json(202, { status: "shutting_down" }, () => this.worker.requestShutdown(reason));
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        if (!refused) reject(new Problem(413, "media_too_large", "The request body is too large."));
        refused = true;
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!refused) resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}
