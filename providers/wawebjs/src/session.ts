// The linked device: one whatsapp-web.js Client (one Chromium) at a time, its login, and what it sends and receives.
//
// One loop owns the connection. It reads the stored session from the state store first (and reports nothing past
// `connecting` before it has it), then starts a Client: Chromium is launched, WhatsApp Web loaded, and RemoteAuth
// puts the stored profile in place. When an attempt fails (WhatsApp Web unreachable, a timeout) or ends (the browser
// crashed, WhatsApp closed the session) the browser is closed and the loop tries again after a capped exponential
// backoff: a browser crash restarts the browser, never the worker.

import fs from "node:fs";
import path from "node:path";
import wwebjs from "whatsapp-web.js";
import type WAWebJS from "whatsapp-web.js";
import { Backoff, Journal, derivedId, isoIn, sleep, type Emitter, type SendResult, type SentLog } from "@wagw/node-kit";
import { CompleteRemoteAuth } from "./auth.js";
import { chromiumArgs, killBrowsers } from "./browser.js";
import type { Config } from "./config.js";
import { EpochSuperseded, GatewayUnavailable, type GatewayClient } from "./gateway.js";
import type { Logger } from "./log.js";
import { Problem, engineUnavailable, invalidRecipient, invalidRequest, notConnected } from "./problems.js";
import { engineContent } from "./outgoing.js";
import { buildOutgoing, chatIdOf, type PresenceState, type Send } from "./sends.js";
import type { SnapshotStore } from "./store.js";
import {
  callData,
  messageData,
  personOf,
  protocolJid,
  reactionData,
  statusData,
  type Person,
  type WCall,
  type WMessage,
  type WReaction,
} from "./translate.js";

const { Client } = wwebjs;

export type ConnectionState =
  "starting" | "connecting" | "qr" | "pairing" | "connected" | "disconnected" | "logged_out" | "banned" | "failed";

const QR_SECONDS = 20;
const PAIR_CODE_SECONDS = 180;
const CLOSE_SECONDS = 4;
const CALL_SECONDS = 30;
// WhatsApp Web's states that mean the phone unlinked this device, and those of a blocked account.
const UNLINKED = new Set(["LOGOUT", "UNPAIRED", "UNPAIRED_IDLE"]);
const BANNED = new Set(["TOS_BLOCK", "SMB_TOS_BLOCK"]);

interface MediaEntry {
  provider_message_id: string;
  mimetype: string;
}

// How one Client ended: try again, or stay down (logged out; banned or failed, which a restart will not fix).
type Ending = "retry" | "logged_out" | "final" | "stopped";

function withTimeout<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.slice(0, 300);
}

/** What a customer's webhook is told about a failed attempt (internal addresses stay in the log). */
function publicReason(error: unknown): string {
  const text = describe(error);
  const net = /net::(ERR_[A-Z_]+)/.exec(text);
  if (net) return `cannot reach WhatsApp Web (${net[1]})`;
  if (/took longer than/.test(text)) return "WhatsApp Web did not load in time";
  if (/Failed to launch|spawn|ENOENT/.test(text)) return "the browser could not be started";
  return "cannot connect to WhatsApp Web";
}

export class WawebjsSession {
  state: ConnectionState = "starting";
  me: Person | null = null;
  private qr: { qr: string; expires_at: string } | null = null;
  private pairCode: { code: string; expires_at: string } | null = null;
  private client: WAWebJS.Client | null = null;
  private clientEnded: ((ending: Ending, reason: string) => void) | null = null;
  private stopping = false;
  private loggedOut = false;
  private readonly stopController = new AbortController();
  private runPromise: Promise<void> | null = null;
  private readonly inflight = new Map<string, Promise<SendResult>>();
  private readonly media: Journal<MediaEntry>;
  private readonly mediaDir: string;
  readonly authDir: string;
  readonly userDataDir: string;

  constructor(
    private readonly config: Config,
    private readonly gateway: GatewayClient,
    private readonly store: SnapshotStore,
    private readonly sink: Emitter,
    private readonly sent: SentLog,
    private readonly log: Logger,
    // Tests drive the session with a stand-in for whatsapp-web.js's Client; the worker gets the real one.
    private readonly makeClient: () => WAWebJS.Client = () => this.newClient(),
  ) {
    this.authDir = path.join(config.dataDir, "wwebjs");
    // RemoteAuth's profile directory for a client without a clientId.
    this.userDataDir = path.join(this.authDir, "RemoteAuth");
    this.mediaDir = path.join(config.dataDir, "media");
    this.media = new Journal(path.join(this.mediaDir, "index.jsonl"), log);
    // Downloads cut short, and media whose entry the index has dropped (it keeps the newest 10 000), go.
    for (const name of fs.readdirSync(this.mediaDir)) {
      if (name.startsWith("med_") && (name.endsWith(".tmp") || this.media.get(name) === undefined)) {
        fs.rmSync(path.join(this.mediaDir, name), { force: true });
      }
    }
  }

  // Lifecycle

  start(): void {
    // A predecessor killed with SIGKILL on this DATA_DIR may have left its browser behind.
    const orphans = killBrowsers(this.userDataDir);
    if (orphans) this.log.warning("killed browsers left by a previous worker", { count: orphans });
    this.runPromise = this.run();
  }

  /** Disconnect without logging out (shutdown): the session is saved and stays valid for the next worker. */
  async stop(reason: string): Promise<void> {
    this.stopping = true;
    this.stopController.abort();
    const client = this.client;
    if (client && this.state === "connected") {
      try {
        // RemoteAuth's own upload, so the next worker starts from the newest profile.
        const auth = (client as unknown as { authStrategy: { storeRemoteSession?: () => Promise<void> } }).authStrategy;
        await withTimeout(auth.storeRemoteSession?.() ?? Promise.resolve(), 5, "saving the session");
      } catch (error) {
        this.log.warning("could not save the session at shutdown", { error: describe(error) });
      }
    }
    await this.closeClient();
    await this.settleRun();
    if (!["logged_out", "failed", "disconnected"].includes(this.state)) this.setState("disconnected", reason);
  }

  /** Stop at once, reporting nothing (superseded): close the browser, keep the session. */
  async abort(): Promise<void> {
    this.stopping = true;
    this.stopController.abort();
    await this.closeClient(1.5);
    await this.settleRun();
  }

  close(): void {
    this.media.close();
    killBrowsers(this.userDataDir);
  }

  private async settleRun(): Promise<void> {
    if (this.runPromise) await withTimeout(this.runPromise, 3, "the connection loop").catch(() => undefined);
    // A browser whose launch was still under way when the loop stopped.
    killBrowsers(this.userDataDir);
  }

  // State

  private setState(state: ConnectionState, reason?: string): void {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    if (state !== "qr") this.qr = null;
    const data: Record<string, unknown> = { connection_state: state };
    if (reason) data.reason = reason;
    this.sink.emit("instance.status", data);
    this.log.info("connection state", { state, previous, reason });
  }

  // The connection loop

  private async run(): Promise<void> {
    try {
      this.setState("connecting");
      await this.loadSession();
      const backoff = new Backoff(this.config.provider.retryInitialSeconds, this.config.provider.retryMaxSeconds);
      while (!this.stopping && !this.loggedOut) {
        this.setState("connecting");
        const ending = await this.connectOnce(backoff);
        if (ending !== "retry" || this.stopping || this.loggedOut) return;
        const delay = backoff.next();
        this.log.info("will reconnect", { in_seconds: Math.round(delay * 10) / 10 });
        await sleep(delay, this.stopController.signal);
      }
    } catch (error) {
      if (error instanceof EpochSuperseded) return;
      // Nothing below should throw; if it does, say so rather than sit in a state that claims progress.
      this.log.error("connection loop failed", { error: describe(error) });
      if (!this.stopping) this.setState("failed", "internal error in the worker");
    }
  }

  /** The stored session, before anything that depends on it; retried while the control plane is unreachable. */
  private async loadSession(): Promise<void> {
    const backoff = new Backoff(0.5, 10);
    while (!this.stopping) {
      try {
        await this.store.load();
        return;
      } catch (error) {
        if (!(error instanceof GatewayUnavailable)) throw error;
        this.log.warning("cannot read the stored session yet, will retry", { error: error.message });
        await sleep(backoff.next(), this.stopController.signal);
      }
    }
  }

  private newClient(): WAWebJS.Client {
    const provider = this.config.provider;
    const options: WAWebJS.ClientOptions = {
      authStrategy: new CompleteRemoteAuth({
        store: this.store,
        dataPath: this.authDir,
        backupSyncIntervalMs: provider.backupIntervalSeconds * 1000,
      }),
      puppeteer: {
        executablePath: provider.chromiumPath,
        headless: true,
        // Over a pipe, Chromium exits when the worker does, even on SIGKILL: no browser outlives its worker.
        pipe: true,
        args: chromiumArgs(provider.singleProcess, provider.chromiumArgs),
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
        timeout: 30_000,
        protocolTimeout: 60_000,
      },
      webVersionCache: { type: "local", path: path.join(this.authDir, "web-cache") },
      // Fencing makes this worker the number's only owner: a CONFLICT is a predecessor's browser, not a rival.
      takeoverOnConflict: true,
      takeoverTimeoutMs: 0,
      qrMaxRetries: 0,
      authTimeoutMs: 60_000,
    };
    if (provider.webVersion) options.webVersion = provider.webVersion;
    return new Client(options);
  }

  private async connectOnce(backoff: Backoff): Promise<Ending> {
    const client = this.makeClient();
    this.me = null;
    const ended = new Promise<[Ending, string]>((resolve) => {
      this.clientEnded = (ending, reason) => resolve([ending, reason]);
    });
    this.client = client;
    this.attach(client, backoff);
    try {
      await withTimeout(client.initialize(), this.config.provider.connectTimeoutSeconds, "loading WhatsApp Web");
      this.log.info("WhatsApp Web loaded");
      this.watchBrowser(client);
    } catch (error) {
      if (this.stopping) return "stopped";
      this.log.warning("connection attempt failed", { error: describe(error) });
      this.clientEnded?.("retry", publicReason(error));
    }
    const [ending, reason] = await ended;
    this.clientEnded = null;
    if (this.client === client) await this.closeClient();
    if (this.stopping) return "stopped";
    if (ending === "final") return ending;
    if (ending === "logged_out" || this.loggedOut) return "logged_out";
    const wasConnected = this.state === "connected";
    this.setState("disconnected", reason);
    if (wasConnected) this.sink.emit("session.disconnected", { reason, will_retry: true });
    return ending;
  }

  private watchBrowser(client: WAWebJS.Client): void {
    client.pupBrowser?.once("disconnected", () => {
      if (this.client === client && !this.stopping) {
        this.log.warning("the browser exited; restarting it");
        this.clientEnded?.("retry", "the browser exited");
      }
    });
    client.pupPage?.once("error", (error: Error) => {
      if (this.client === client && !this.stopping) {
        this.log.warning("the WhatsApp Web page crashed; restarting the browser", { error: describe(error) });
        this.clientEnded?.("retry", "the browser crashed");
      }
    });
  }

  private async closeClient(seconds = CLOSE_SECONDS): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    const browser = client.pupBrowser;
    try {
      await withTimeout(client.destroy(), seconds, "closing the browser");
    } catch (error) {
      this.log.warning("the browser did not close in time; killing it", { error: describe(error) });
    }
    const pid = browser?.process()?.pid;
    if (pid) {
      try {
        // Puppeteer starts Chromium in its own process group: take its helpers along.
        process.kill(-pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    killBrowsers(this.userDataDir);
  }

  // whatsapp-web.js events

  private attach(client: WAWebJS.Client, backoff: Backoff): void {
    const current = (): boolean => this.client === client && !this.stopping;
    const guard =
      <A extends unknown[]>(what: string, handler: (...args: A) => void | Promise<void>) =>
      (...args: A): void => {
        if (!current()) return;
        Promise.resolve()
          .then(() => handler(...args))
          .catch((error: unknown) => {
            if (error instanceof EpochSuperseded) return;
            this.log.error(`handling ${what} failed`, { error: describe(error) });
          });
      };
    client.on(
      "qr",
      guard("qr", (qr: string) => {
        this.qr = { qr, expires_at: isoIn(QR_SECONDS) };
        if (this.state !== "pairing") this.setState("qr");
        if (this.state === "qr") this.sink.emit("session.qr", { ...this.qr });
      }),
    );
    client.on(
      "code",
      guard("code", (code: string) => void this.showPairCode(code)),
    );
    client.on(
      "authenticated",
      guard("authenticated", () => this.log.info("authenticated")),
    );
    client.on(
      "auth_failure",
      guard("auth_failure", (message: string) => {
        this.log.warning("the stored session was refused", { message });
      }),
    );
    client.on(
      "ready",
      guard("ready", async () => {
        backoff.reset();
        const info = client.info;
        const wid = info?.wid?._serialized ?? "";
        const me = personOf(wid, info?.pushname);
        me.lid = wid.endsWith("@lid") ? wid : await this.lidOf(client, wid);
        this.me = me;
        this.setState("connected");
        this.sink.emit("session.connected", { me });
      }),
    );
    client.on(
      "change_state",
      guard("change_state", (state: string) => {
        this.log.info("WhatsApp Web state", { state });
        if (this.me === null) return; // not logged in yet: the login events say more
        // WhatsApp Web reconnects its socket by itself; the worker only reports it.
        if ((state === "TIMEOUT" || state === "OPENING") && this.state === "connected") {
          this.setState("disconnected", `WhatsApp Web lost its connection (${state})`);
          this.sink.emit("session.disconnected", {
            reason: `WhatsApp Web lost its connection (${state})`,
            will_retry: true,
          });
        } else if (state === "CONNECTED" && this.state === "disconnected") {
          this.setState("connected");
          this.sink.emit("session.connected", { me: this.me });
        }
      }),
    );
    client.on(
      "disconnected",
      guard("disconnected", async (reason: string) => {
        const state = String(reason);
        if (UNLINKED.has(state)) {
          await this.forgetSession(`unlinked by the phone (${state})`);
          this.clientEnded?.("logged_out", state);
        } else if (BANNED.has(state)) {
          this.sink.emit("session.banned", { reason: `WhatsApp blocked the account (${state})` });
          this.setState("banned", state);
          this.clientEnded?.("final", state);
        } else if (state === "DEPRECATED_VERSION") {
          this.setState("failed", "WhatsApp Web refuses this version: update the worker or set web_version");
          this.clientEnded?.("final", state);
        } else {
          this.clientEnded?.("retry", `WhatsApp Web closed the session (${state})`);
        }
      }),
    );
    client.on(
      "message",
      guard("message", (message: WAWebJS.Message) => this.received(message)),
    );
    client.on(
      "message_create",
      guard("message_create", async (message: WAWebJS.Message) => {
        if (!message.fromMe) return;
        await this.sendsSettled();
        // Sent through this worker: the API already answered for it.
        if (this.sent.clientIdOf(message.id._serialized) !== undefined) return;
        this.sink.emit("message.sent", this.translate(message), derivedId("evt", "sent", message.id._serialized));
      }),
    );
    client.on(
      "message_ack",
      guard("message_ack", async (message: WAWebJS.Message, ack: number) => {
        await this.sendsSettled();
        const providerId = message.id._serialized;
        const data = statusData(message as unknown as WMessage, ack, this.sent.clientIdOf(providerId));
        if (data) this.sink.emit("message.status", data, derivedId("evt", "status", providerId, String(data.status)));
      }),
    );
    client.on(
      "message_reaction",
      guard("message_reaction", (reaction: WAWebJS.Reaction) => {
        const data = reactionData(reaction as unknown as WReaction);
        this.sink.emit(
          "message.reaction",
          data,
          derivedId("evt", "reaction", reaction.id._serialized, reaction.reaction),
        );
      }),
    );
    client.on(
      "message_edit",
      guard("message_edit", (message: WAWebJS.Message, newBody: unknown) => {
        const data = this.translate(message);
        this.sink.emit("message.edited", {
          message_id: message.id._serialized,
          chat: data.chat,
          from: data.from,
          text: String(newBody ?? ""),
        });
      }),
    );
    client.on(
      "message_revoke_everyone",
      guard("message_revoke_everyone", (after: WAWebJS.Message, before?: WAWebJS.Message | null) => {
        const original = before ?? after;
        const data = this.translate(original);
        this.sink.emit("message.revoked", { message_id: original.id._serialized, chat: data.chat, from: data.from });
      }),
    );
    client.on(
      "call",
      guard("call", (call: WAWebJS.Call) => {
        this.sink.emit("call.received", callData(call as unknown as WCall), derivedId("evt", "call", call.id));
      }),
    );
  }

  private translate(message: WAWebJS.Message): Record<string, unknown> {
    return messageData(message as unknown as WMessage, {
      me: this.client?.info?.wid?._serialized,
      mediaId: (providerId) => this.mediaIdOf(providerId),
    });
  }

  private received(message: WAWebJS.Message): void {
    if (message.isStatus || message.type === "e2e_notification" || message.type === "notification_template") return;
    const data = this.translate(message);
    const media = data.media as { mimetype: string } | undefined;
    if (media) {
      const mediaId = this.mediaIdOf(message.id._serialized);
      this.media.put(mediaId, { provider_message_id: message.id._serialized, mimetype: media.mimetype });
    }
    this.sink.emit("message.received", data, derivedId("evt", "received", message.id._serialized));
  }

  private mediaIdOf(providerMessageId: string): string {
    return derivedId("med", providerMessageId);
  }

  private async lidOf(client: WAWebJS.Client, wid: string): Promise<string | null> {
    try {
      const [pair] = await withTimeout(client.getContactLidAndPhone([wid]), 10, "looking up the LID");
      return pair?.lid ? String(pair.lid) : null;
    } catch {
      return null;
    }
  }

  private async sendsSettled(): Promise<void> {
    // Acks can overtake the answer of the send they are about; wait (a little) for the client id to be known.
    if (this.inflight.size)
      await withTimeout(Promise.allSettled([...this.inflight.values()]), 10, "sends").catch(() => undefined);
  }

  // Login

  currentQr(): { qr: string; expires_at: string } {
    if (this.state === "connected") throw new Problem(409, "already_connected", "The instance is already connected.");
    if (this.state !== "qr" || this.qr === null) {
      throw new Problem(404, "qr_unavailable", `No QR code to scan (state: ${this.state}).`);
    }
    return this.qr;
  }

  private showPairCode(raw: string): { code: string; expires_at: string } {
    const code = raw.length === 8 ? `${raw.slice(0, 4)}-${raw.slice(4)}` : raw;
    // whatsapp-web.js reports a code both as the call's answer and as a `code` event.
    if (this.pairCode?.code === code) return this.pairCode;
    const answer = { code, expires_at: isoIn(PAIR_CODE_SECONDS) };
    this.pairCode = answer;
    if (this.state !== "pairing") this.setState("pairing");
    this.sink.emit("session.pair_code", answer, derivedId("evt", "pair_code", code));
    return answer;
  }

  async requestPairCode(phone: string): Promise<{ code: string; expires_at: string }> {
    if (this.state === "connected") throw new Problem(409, "already_connected", "The instance is already connected.");
    const client = this.client;
    if (!client || (this.state !== "qr" && this.state !== "pairing")) {
      throw engineUnavailable(`WhatsApp Web is not waiting for a login (state: ${this.state}); retry later.`);
    }
    let code: string;
    try {
      code = await withTimeout(client.requestPairingCode(phone, true), CALL_SECONDS, "requesting a pair code");
    } catch (error) {
      throw engineUnavailable(`WhatsApp Web did not issue a pair code: ${describe(error)}`);
    }
    return this.showPairCode(code);
  }

  async logout(): Promise<void> {
    if (this.state === "logged_out") return;
    this.loggedOut = true;
    const client = this.client;
    if (client && this.state === "connected") {
      try {
        await withTimeout(client.logout(), 15, "logging out");
      } catch (error) {
        this.log.warning("WhatsApp Web logout did not finish; forgetting the session anyway", {
          error: describe(error),
        });
      }
    }
    await this.forgetSession("logout");
    this.clientEnded?.("logged_out", "logout");
    await this.closeClient();
  }

  private async forgetSession(reason: string): Promise<void> {
    this.loggedOut = true;
    if (this.state === "logged_out") return;
    try {
      await this.store.wipe();
      await this.gateway.state({ clear: true });
    } catch (error) {
      if (error instanceof EpochSuperseded) throw error;
      // The device is unlinked, so the stored profile is dead anyway: the next login replaces it.
      this.log.error("could not wipe the stored session", { error: describe(error) });
    }
    fs.rmSync(this.userDataDir, { recursive: true, force: true });
    this.me = null;
    this.sink.emit("session.logged_out", { reason });
    this.setState("logged_out", reason);
  }

  // Sending and the rest of the API (validated by the caller)

  private connectedClient(): WAWebJS.Client {
    if (this.state !== "connected" || this.client === null) throw notConnected(this.state);
    return this.client;
  }

  async send(send: Send): Promise<SendResult> {
    const previous = this.sent.get(send.id);
    if (previous) return previous;
    const running = this.inflight.get(send.id);
    if (running) return running;
    const client = this.connectedClient();
    const attempt = this.deliver(client, send).finally(() => this.inflight.delete(send.id));
    this.inflight.set(send.id, attempt);
    return attempt;
  }

  private async deliver(client: WAWebJS.Client, send: Send): Promise<SendResult> {
    const outgoing = buildOutgoing(send);
    if (outgoing.action === "react") {
      for (const target of outgoing.targets) {
        const message = await this.call(
          client.getMessageById(target).catch(() => null),
          "finding the message",
        );
        if (!message) continue;
        await this.call(message.react(outgoing.emoji), "reacting");
        const result: SendResult = { id: send.id, provider_message_id: message.id._serialized, status: "sent" };
        this.sent.put(result);
        return result;
      }
      throw invalidRequest(`No message ${send.reaction?.messageId} in that chat to react to.`);
    }
    const chatId = await this.resolveChat(client, outgoing.chatId);
    const content = await engineContent(outgoing.content);
    const message = await this.call(client.sendMessage(chatId, content, outgoing.options), "sending");
    const result: SendResult = {
      id: send.id,
      provider_message_id: message.id._serialized,
      status: (message.ack ?? 0) >= 1 ? "sent" : "queued",
    };
    this.sent.put(result);
    return result;
  }

  private async call<T>(promise: Promise<T>, what: string): Promise<T> {
    try {
      return await withTimeout(promise, CALL_SECONDS, what);
    } catch (error) {
      if (error instanceof Problem) throw error;
      this.log.warning(`${what} failed`, { error: describe(error) });
      throw engineUnavailable(`WhatsApp Web failed while ${what}: ${describe(error)}`);
    }
  }

  /** Phones are looked up first: WhatsApp Web needs the account's real id (which may be a LID) to open a chat. */
  private async resolveChat(client: WAWebJS.Client, chatId: string): Promise<string> {
    if (!chatId.endsWith("@c.us")) return chatId;
    const id = await this.call(client.getNumberId(chatId.split("@")[0]!), "looking up the number");
    if (!id) throw invalidRecipient(`${chatId.split("@")[0]} is not on WhatsApp.`);
    return id._serialized;
  }

  async markRead(chat: string): Promise<void> {
    const client = this.connectedClient();
    await this.call(client.sendSeen(await this.resolveChat(client, chatIdOf(chat))), "marking the chat read");
  }

  async sendPresence(chat: string | null, state: PresenceState): Promise<void> {
    const client = this.connectedClient();
    if (state === "available") return void (await this.call(client.sendPresenceAvailable(), "sending presence"));
    if (state === "unavailable") return void (await this.call(client.sendPresenceUnavailable(), "sending presence"));
    if (chat === null) throw invalidRecipient("`chat` is required for this presence state.");
    const target = await this.call(
      client.getChatById(await this.resolveChat(client, chatIdOf(chat))),
      "opening the chat",
    );
    if (state === "composing") await this.call(target.sendStateTyping(), "sending presence");
    else if (state === "recording") await this.call(target.sendStateRecording(), "sending presence");
    else await this.call(target.clearState(), "sending presence");
  }

  async checkContacts(phones: string[]): Promise<Record<string, unknown>[]> {
    const client = this.connectedClient();
    const results: Record<string, unknown>[] = [];
    for (const phone of phones) {
      const id = await this.call(client.getNumberId(phone), "looking up the number");
      if (!id) {
        results.push({ phone, on_whatsapp: false, jid: null, lid: null });
        continue;
      }
      const wid = id._serialized;
      results.push({
        phone,
        on_whatsapp: true,
        jid: protocolJid(wid),
        lid: wid.endsWith("@lid") ? wid : await this.lidOf(client, wid),
      });
    }
    return results;
  }

  /** The bytes of a received message's media: from the cache, or downloaded through WhatsApp Web. */
  async mediaContent(mediaId: string): Promise<{ mimetype: string; data: Buffer }> {
    const entry = /^med_[0-9A-Z]{26}$/.test(mediaId) ? this.media.get(mediaId) : undefined;
    if (!entry) throw new Problem(404, "media_not_found", `No media ${JSON.stringify(mediaId)}.`);
    const cached = path.join(this.mediaDir, mediaId);
    try {
      return { mimetype: entry.mimetype, data: await fs.promises.readFile(cached) };
    } catch {
      // Not downloaded yet.
    }
    if (this.state !== "connected" || this.client === null) {
      throw engineUnavailable("The media is downloaded through WhatsApp Web, which is not connected now; retry later.");
    }
    const client = this.client;
    const message = await this.call(client.getMessageById(entry.provider_message_id), "finding the message");
    if (!message) throw new Problem(404, "media_not_found", "The message of that media is gone.");
    const downloaded = await this.call(message.downloadMedia(), "downloading the media");
    if (!downloaded) throw new Problem(404, "media_not_found", "WhatsApp no longer has that media.");
    const data = Buffer.from(downloaded.data, "base64");
    await fs.promises.writeFile(`${cached}.tmp`, data);
    await fs.promises.rename(`${cached}.tmp`, cached);
    return { mimetype: downloaded.mimetype || entry.mimetype, data };
  }
}
