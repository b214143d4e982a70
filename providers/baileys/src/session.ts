// The linked device: Baileys' socket, login, reconnects, and what the device sends and receives.
//
// One socket at a time. Each socket gets a generation number and its listeners ignore events once a newer socket
// (or a stop) has replaced it, so a late `close` from an old socket can never schedule a second connection.

import makeWASocket, {
  DisconnectReason,
  isJidGroup,
  isLidUser,
  jidDecode,
  jidNormalizedUser,
  type BaileysEventMap,
  type ConnectionState as BaileysConnectionState,
  type WAMessage,
  type WAMessageKey,
  type WASocket,
  type proto,
} from "baileys";

import { Backoff, sleep, type Emitter, type SendResult, type SentLog } from "@wagw/node-kit";

import { StoredAuthState } from "./auth-state.js";
import type { ProviderSettings } from "./config.js";
import { EpochSuperseded, type StateStore } from "./gateway.js";
import { engineLogger, type Logger } from "./log.js";
import type { MediaStore } from "./media.js";
import { Problem, alreadyConnected, engineUnavailable, notConnected } from "./problems.js";
import { buildContent, decodeBase64, downloadMedia, toJid, whatsappMessageId, type Send } from "./sends.js";
import {
  person,
  translateMessage,
  translateMessageUpdate,
  translatePresence,
  translateReceipt,
  type Person,
  type TranslateContext,
  type Translated,
} from "./translate.js";

/** Baileys reports disconnects as Boom errors: an Error with an HTTP-like status code. */
type Boom = Error & { output?: { statusCode?: number } };

export type ConnectionState =
  "starting" | "connecting" | "qr" | "pairing" | "connected" | "disconnected" | "logged_out" | "banned" | "failed";

const LOGIN_STATES: ConnectionState[] = ["qr", "pairing"];
// Baileys shows the first QR for 60 s and each later one for 20 s.
const FIRST_QR_SECONDS = 60;
const NEXT_QR_SECONDS = 20;
const PAIR_CODE_SECONDS = 180;
const RECENT_MESSAGES = 1000;
const LID_CACHE = 20_000;
// Own messages that come back as `append` (sent from the phone while this device was offline) are reported when
// younger than this; older ones are history, not news.
const APPEND_NEWS_SECONDS = 10 * 60;

export interface Me {
  phone: string | null;
  jid: string;
  lid: string | null;
  push_name: string | null;
}

interface SessionDeps {
  instanceId: string;
  settings: ProviderSettings;
  store: StateStore;
  sink: Emitter;
  media: MediaStore;
  sent: SentLog;
  log: Logger;
  /** Baileys' makeWASocket; tests pass a stand-in that plays WhatsApp's side of the connection. */
  makeSocket?: (config: Parameters<typeof makeWASocket>[0]) => WASocket;
}

/** A bounded map that forgets its oldest entries. */
class Recent<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly limit: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.limit) this.map.delete(this.map.keys().next().value as string);
  }
}

export class BaileysSession {
  state: ConnectionState = "starting";
  me: Me | null = null;
  readonly auth: StoredAuthState;
  private sock: WASocket | null = null;
  private generation = 0;
  private stopped = false;
  private readonly stopSignal = new AbortController();
  private qr: { qr: string; expires_at: string } | null = null;
  private qrCount = 0;
  private pairCodeExpiresAt = 0;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly sendLocks = new Map<string, Promise<SendResult>>();
  // Keys and contents of recent messages: reactions and replies need the target's key, and Baileys asks for our own
  // recent messages again when a recipient could not decrypt them (getMessage).
  private readonly recent = new Recent<{ key: WAMessageKey; message?: proto.IMessage | null }>(RECENT_MESSAGES);
  private readonly lidByPn = new Recent<string>(LID_CACHE);
  private readonly pnByLid = new Recent<string>(LID_CACHE);
  // WhatsApp ids of sends in flight → client ids. Baileys reports our own send (messages.upsert) and its server ack
  // before sendMessage returns, that is before the sent log has it.
  private readonly sending = new Recent<string>(RECENT_MESSAGES);
  private inbox: Promise<void> = Promise.resolve();
  private readonly ctx: TranslateContext;

  constructor(private readonly deps: SessionDeps) {
    this.auth = new StoredAuthState(deps.store, deps.log.child({ component: "auth-state" }));
    this.backoff = new Backoff(deps.settings.reconnectInitialSeconds, deps.settings.reconnectMaxSeconds);
    this.ctx = {
      instanceId: deps.instanceId,
      lidFor: (pn) => this.lidByPn.get(pn),
      pnFor: (lid) => this.pnByLid.get(lid),
      clientIdFor: (id) => deps.sent.clientIdOf(id) ?? this.sending.get(id),
    };
  }

  private get log(): Logger {
    return this.deps.log;
  }

  // Lifecycle

  start(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    this.setState("connecting");
    // The session lives in the control plane: nothing past `connecting` is decided before it has answered.
    const backoff = new Backoff(0.5, 10);
    while (!this.stopped) {
      try {
        await this.auth.load();
        break;
      } catch (error) {
        if (error instanceof EpochSuperseded) return;
        const delay = backoff.next();
        this.log.warning("cannot read the session from the state store, will retry", {
          error: String(error),
          retry_in: delay,
        });
        await sleep(delay, this.stopSignal.signal);
      }
    }
    if (this.stopped) return;
    const creds = this.auth.creds;
    if (creds.me && !creds.account) {
      // A pair code was asked for but never entered: Baileys would try to log in as that number and be refused.
      this.log.info("discarding an unfinished pairing");
      creds.me = undefined;
      creds.pairingCode = undefined;
    }
    this.log.info("session loaded", { logged_in: !!creds.me });
    this.connect();
  }

  /** Disconnect without logging out (shutdown): the stored session stays valid for the next worker. */
  async stop(reason: string): Promise<void> {
    this.halt();
    await this.auth.idle().catch(() => undefined);
    if (!["logged_out", "failed", "disconnected", "banned"].includes(this.state)) this.setState("disconnected", reason);
  }

  /** Stop at once, reporting nothing (superseded). */
  abort(): void {
    this.halt();
  }

  private halt(): void {
    this.stopped = true;
    this.stopSignal.abort();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.closeSocket();
  }

  private closeSocket(): void {
    const sock = this.sock;
    this.sock = null;
    this.generation += 1;
    if (sock) {
      sock.ev.removeAllListeners("connection.update");
      void sock.end(undefined).catch(() => undefined);
    }
  }

  // State

  private setState(state: ConnectionState, reason?: string): void {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    if (state !== "qr") this.qr = null;
    const data: Record<string, unknown> = { connection_state: state };
    if (reason) data.reason = reason;
    this.deps.sink.emit("instance.status", data);
    this.log.info("connection state", { state, previous, reason });
  }

  // The socket

  private connect(): void {
    if (this.stopped) return;
    this.closeSocket();
    const generation = this.generation;
    const creds = this.auth.creds;
    const settings = this.deps.settings;
    if (this.state !== "connecting") this.setState("connecting");
    this.qrCount = 0;
    const sock = (this.deps.makeSocket ?? makeWASocket)({
      auth: this.auth.state,
      logger: engineLogger(this.log.child({ component: "baileys" })),
      browser: [settings.deviceName, "Chrome", "1.0"],
      ...(settings.waVersion ? { version: settings.waVersion } : {}),
      ...(settings.websocketUrl ? { waWebSocketUrl: settings.websocketUrl } : {}),
      connectTimeoutMs: settings.connectTimeoutSeconds * 1000,
      defaultQueryTimeoutMs: 60_000,
      markOnlineOnConnect: settings.markOnlineOnConnect,
      syncFullHistory: false,
      // History is not forwarded to customers; skipping it keeps memory flat on accounts with years of chats.
      shouldSyncHistoryMessage: () => false,
      emitOwnEvents: true,
      getMessage: async (key) => (key.id ? (this.recent.get(key.id)?.message ?? undefined) : undefined),
    });
    this.sock = sock;
    const current = (): boolean => generation === this.generation && !this.stopped;
    sock.ev.on("connection.update", (update) => {
      if (current()) this.onConnectionUpdate(update);
    });
    sock.ev.on("creds.update", () => {
      // Saved even from a socket already replaced: the credentials object is shared, and a late update (the last
      // words of a socket closing after pairing) must not be lost.
      if (this.auth.creds !== creds) return; // wiped (logged out) since
      this.auth.saveCreds().catch((error: unknown) => this.onStoreError("save credentials", error));
    });
    sock.ev.on("lid-mapping.update", (mapping) => {
      if (mapping.pn && mapping.lid) this.rememberLid(mapping.pn, mapping.lid);
    });
    sock.ev.on("messages.upsert", (upsert) => {
      if (current()) this.enqueue(() => this.onMessages(upsert));
    });
    sock.ev.on("messages.update", (updates) => {
      if (current()) this.enqueue(() => this.emitAll(updates.map((u) => translateMessageUpdate(this.ctx, u))));
    });
    sock.ev.on("message-receipt.update", (updates) => {
      if (current()) this.enqueue(() => this.emitAll(updates.map((u) => translateReceipt(this.ctx, u))));
    });
    sock.ev.on("presence.update", (update) => {
      if (current()) this.enqueue(() => this.emitAll(translatePresence(this.ctx, update)));
    });
    sock.ev.on("call", (calls) => {
      if (current()) this.enqueue(() => this.onCalls(calls));
    });
  }

  private onConnectionUpdate(update: Partial<BaileysConnectionState>): void {
    if (update.qr) this.onQr(update.qr);
    if (update.isNewLogin) this.log.info("paired: WhatsApp will ask for a restart of the connection");
    if (update.connection === "open") void this.onOpen();
    if (update.connection === "close") this.onClose(update.lastDisconnect?.error);
  }

  private onQr(qr: string): void {
    const seconds = this.qrCount === 0 ? FIRST_QR_SECONDS : NEXT_QR_SECONDS;
    this.qrCount += 1;
    const expiresAt = new Date(Date.now() + seconds * 1000).toISOString();
    if (this.state === "pairing" && Date.now() < this.pairCodeExpiresAt) {
      this.log.debug("QR rotated while a pair code is pending; not shown");
      return;
    }
    this.setState("qr");
    this.qr = { qr, expires_at: expiresAt };
    this.deps.sink.emit("session.qr", { qr, expires_at: expiresAt });
  }

  private async onOpen(): Promise<void> {
    const generation = this.generation;
    this.backoff.reset();
    const me = this.auth.creds.me;
    // Stored before session.connected is reported: a crash right after must not lose the login.
    try {
      await this.auth.saveCreds();
    } catch (error) {
      this.onStoreError("save credentials", error);
    }
    if (generation !== this.generation || this.stopped) return;
    const jid = me?.id ? jidNormalizedUser(me.id) : "";
    const lid = me?.lid ? jidNormalizedUser(me.lid) : null;
    if (jid && lid) this.rememberLid(jid, lid);
    this.me = {
      phone: jid ? (jidDecode(jid)?.user ?? null) : null,
      jid,
      lid,
      push_name: me?.name ?? me?.notify ?? null,
    };
    this.deps.sink.emit("session.connected", { me: this.me });
    this.setState("connected");
  }

  private onClose(error: Error | Boom | undefined): void {
    const code = (error as Boom | undefined)?.output?.statusCode;
    const message = error?.message ?? "connection closed";
    const wasConnected = this.state === "connected";
    this.sock = null;
    this.generation += 1;
    this.log.info("connection closed", { code, error: message });
    switch (code) {
      case DisconnectReason.restartRequired:
        // Right after a new login WhatsApp closes the stream and expects a fresh one with the new credentials.
        void this.auth.idle().then(() => this.connect());
        return;
      case DisconnectReason.loggedOut:
        void this.loggedOut(wasConnected ? "the device was unlinked from the phone" : "the stored session was refused");
        return;
      case DisconnectReason.connectionReplaced:
        // Another client took the session over. Reconnecting would fight it (and WhatsApp closes both streams).
        if (wasConnected || this.state !== "failed") {
          this.deps.sink.emit("session.disconnected", { reason: "connection_replaced", will_retry: false });
        }
        this.me = null;
        this.setState("failed", "connection_replaced: another client opened this session");
        return;
      case DisconnectReason.forbidden:
        this.deps.sink.emit("session.banned", { reason: message });
        this.setState("banned", message);
        return;
      case DisconnectReason.multideviceMismatch:
        this.setState("failed", "multidevice_mismatch: the account cannot use linked devices");
        return;
      default: {
        const reason = this.isNetworkError(code, message)
          ? "cannot reach WhatsApp's servers"
          : code === DisconnectReason.timedOut && !this.auth.creds.me
            ? "the QR code was not scanned in time"
            : `connection lost (${code ?? "no code"}: ${message})`;
        if (wasConnected) this.deps.sink.emit("session.disconnected", { reason, will_retry: true });
        this.setState("disconnected", reason);
        this.scheduleReconnect();
      }
    }
  }

  private isNetworkError(code: number | undefined, message: string): boolean {
    return (
      /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|WebSocket Error|Opening handshake/i.test(
        message,
      ) || code === undefined
    );
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.log.info("reconnecting", { in_seconds: Math.round(delay * 10) / 10 });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay * 1000);
  }

  private async loggedOut(reason: string): Promise<void> {
    this.closeSocket();
    this.me = null;
    try {
      await this.auth.clear();
    } catch (error) {
      if (error instanceof EpochSuperseded) return;
      // The phone has unlinked the device, so the stored session is dead anyway: the next worker is refused with
      // it and comes back here.
      this.log.error("could not wipe the stored session", { error: String(error) });
    }
    this.deps.sink.emit("session.logged_out", { reason });
    this.setState("logged_out", reason);
  }

  private onStoreError(what: string, error: unknown): void {
    if (error instanceof EpochSuperseded) return;
    this.log.error(`could not ${what} in the state store`, { error: String(error) });
  }

  // Incoming

  private enqueue(step: () => Promise<void> | void): void {
    // One at a time, in Baileys' order: events reach the spool in the order WhatsApp sent them.
    this.inbox = this.inbox.then(step).catch((error: unknown) => {
      if (!(error instanceof EpochSuperseded))
        this.log.error("could not handle an incoming event", { error: String(error) });
    });
  }

  private emitAll(events: (Translated | null)[]): void {
    for (const event of events) {
      if (!event) continue;
      if (event.media) this.deps.media.remember(event.media);
      this.deps.sink.emit(event.type, event.data, event.eventId || undefined);
    }
  }

  private async onMessages(upsert: BaileysEventMap["messages.upsert"]): Promise<void> {
    const meJid = this.me?.jid ?? (this.auth.creds.me?.id ? jidNormalizedUser(this.auth.creds.me.id) : undefined);
    for (const msg of upsert.messages) {
      const id = msg.key.id;
      if (!id) continue;
      if (msg.key.fromMe) {
        // Sent through this worker: the control plane knows already.
        if (this.ctx.clientIdFor?.(id)) continue;
        if (upsert.type === "append" && ageSeconds(msg) > APPEND_NEWS_SECONDS) continue;
      }
      this.recent.set(id, { key: msg.key, message: msg.message ?? null });
      await this.learnLids(msg);
      this.emitAll([translateMessage(this.ctx, msg, meJid)]);
    }
  }

  private async learnLids(msg: WAMessage): Promise<void> {
    const key = msg.key;
    const pairs: [string | null | undefined, string | null | undefined][] = [
      [key.remoteJid, key.remoteJidAlt],
      [key.participant, key.participantAlt],
    ];
    for (const [jid, alt] of pairs) {
      if (!jid || isJidGroup(jid)) continue;
      if (alt) {
        if (isLidUser(jid)) this.rememberLid(alt, jid);
        else this.rememberLid(jid, alt);
        continue;
      }
      const mapping = this.sock?.signalRepository.lidMapping;
      if (!mapping) continue;
      try {
        const user = jidNormalizedUser(jid);
        if (isLidUser(user) && !this.pnByLid.get(user)) {
          const pn = await mapping.getPNForLID(user);
          if (pn) this.rememberLid(pn, user);
        } else if (!isLidUser(user) && !this.lidByPn.get(user)) {
          const lid = await mapping.getLIDForPN(user);
          if (lid) this.rememberLid(user, lid);
        }
      } catch (error) {
        this.log.debug("no LID mapping", { jid, error: String(error) });
      }
    }
  }

  private rememberLid(pn: string, lid: string): void {
    const pnUser = jidNormalizedUser(pn);
    const lidUser = jidNormalizedUser(lid);
    if (!pnUser || !lidUser) return;
    this.lidByPn.set(pnUser, lidUser);
    this.pnByLid.set(lidUser, pnUser);
  }

  private onCalls(calls: BaileysEventMap["call"]): void {
    for (const call of calls) {
      if (call.status !== "offer") continue;
      const from = person(this.ctx, call.from, call.callerPn ?? null);
      this.deps.sink.emit(
        "call.received",
        { call_id: call.id, from, video: !!call.isVideo, is_group: !!call.isGroup },
        `evt_bl_call_${this.deps.instanceId}_${call.id}`.slice(0, 200),
      );
    }
  }

  // Login

  currentQr(): { qr: string; expires_at: string } {
    if (this.state === "connected") throw alreadyConnected();
    if (this.state !== "qr" || !this.qr)
      throw new Problem(404, "qr_unavailable", `No QR code in state ${JSON.stringify(this.state)}.`);
    return this.qr;
  }

  async requestPairCode(phone: string): Promise<{ code: string; expires_at: string }> {
    if (this.state === "connected") throw alreadyConnected();
    const sock = this.sock;
    if (!LOGIN_STATES.includes(this.state) || !sock) {
      throw engineUnavailable(`Not waiting for a login (state ${JSON.stringify(this.state)}); retry later.`);
    }
    let raw: string;
    try {
      raw = await sock.requestPairingCode(phone);
    } catch (error) {
      throw engineUnavailable(`WhatsApp did not issue a pair code: ${(error as Error).message}`);
    }
    const code = raw.length === 8 ? `${raw.slice(0, 4)}-${raw.slice(4)}` : raw;
    this.pairCodeExpiresAt = Date.now() + PAIR_CODE_SECONDS * 1000;
    const expiresAt = new Date(this.pairCodeExpiresAt).toISOString();
    this.setState("pairing");
    this.deps.sink.emit("session.pair_code", { code, expires_at: expiresAt });
    return { code, expires_at: expiresAt };
  }

  async logout(): Promise<void> {
    if (this.state === "logged_out") return;
    const sock = this.sock;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    // Our own logout must not be reported twice by the socket's close: detach it first.
    this.closeSocketForLogout();
    if (sock && this.state === "connected") {
      try {
        await sock.logout("logout requested through the API");
      } catch (error) {
        this.log.warning("could not tell WhatsApp about the logout; wiping the session anyway", {
          error: String(error),
        });
      }
    }
    await this.loggedOut("logout");
  }

  private closeSocketForLogout(): void {
    this.generation += 1;
  }

  // Requests that need the device

  private requireConnected(): WASocket {
    if (this.state !== "connected" || !this.sock) throw notConnected();
    return this.sock;
  }

  private lookupKey = (messageId: string, chatJid: string): WAMessageKey | undefined => {
    const known = this.recent.get(messageId)?.key;
    if (known) return known;
    if (this.deps.sent.clientIdOf(messageId)) return { remoteJid: chatJid, id: messageId, fromMe: true };
    return undefined;
  };

  async send(send: Send): Promise<SendResult> {
    const done = this.deps.sent.get(send.id);
    if (done) return done;
    // Concurrent requests with one id wait for the first, then get its result.
    const running = this.sendLocks.get(send.id);
    if (running) return running;
    const attempt = this.sendOnce(send).finally(() => this.sendLocks.delete(send.id));
    this.sendLocks.set(send.id, attempt);
    return attempt;
  }

  private async sendOnce(send: Send): Promise<SendResult> {
    this.requireConnected();
    let media: Buffer | undefined;
    if (send.media) {
      if (send.media.base64 !== undefined) media = decodeBase64(send.media.base64);
      else {
        const downloaded = await downloadMedia(send.media.url!, send.media.limit);
        media = downloaded.data;
        if (!send.media.mimetype && downloaded.mimetype) send.media.mimetype = downloaded.mimetype;
      }
    }
    const sock = this.requireConnected();
    const jid = toJid(send.to);
    const messageId = whatsappMessageId(send.id, this.deps.settings.messageIdMode);
    const content = buildContent(send, jid, media, this.lookupKey);
    const options: { messageId: string; quoted?: WAMessage } = { messageId };
    if (send.replyTo) {
      const known = this.recent.get(send.replyTo);
      options.quoted = {
        key: known?.key ?? this.lookupKey(send.replyTo, jid) ?? { remoteJid: jid, id: send.replyTo, fromMe: false },
        message: known?.message ?? { conversation: "" },
      };
    }
    let sent: WAMessage | undefined;
    this.sending.set(messageId, send.id);
    try {
      sent = await sock.sendMessage(jid, content, options);
    } catch (error) {
      const status = (error as Boom).output?.statusCode;
      if (status === 400 || status === 404)
        throw new Problem(422, "invalid_request", `WhatsApp refused the message: ${(error as Error).message}`);
      throw engineUnavailable(`The message was not sent: ${(error as Error).message}`);
    }
    const providerId = sent?.key.id ?? messageId;
    if (sent) this.recent.set(providerId, { key: sent.key, message: sent.message ?? null });
    const result: SendResult = { id: send.id, provider_message_id: providerId, status: "sent" };
    this.deps.sent.put(result);
    return result;
  }

  async markRead(chat: string, messageIds: string[], sender?: string): Promise<void> {
    const sock = this.requireConnected();
    const remoteJid = toJid(chat);
    const keys: WAMessageKey[] = messageIds.map((id) => {
      const known = this.recent.get(id)?.key;
      if (known) return known;
      const key: WAMessageKey = { remoteJid, id, fromMe: false };
      if (sender) key.participant = toJid(sender);
      return key;
    });
    await this.engineCall(() => sock.readMessages(keys));
  }

  async sendPresence(
    chat: string | undefined,
    state: "composing" | "recording" | "paused" | "available" | "unavailable",
  ): Promise<void> {
    const sock = this.requireConnected();
    await this.engineCall(() => (chat ? sock.sendPresenceUpdate(state, toJid(chat)) : sock.sendPresenceUpdate(state)));
  }

  async checkContacts(
    phones: string[],
  ): Promise<{ results: { phone: string; on_whatsapp: boolean; jid: string | null; lid: string | null }[] }> {
    const sock = this.requireConnected();
    const found = (await this.engineCall(() => sock.onWhatsApp(...phones))) ?? [];
    const byUser = new Map(
      found.filter((r) => r.exists).map((r) => [jidDecode(r.jid)?.user ?? "", jidNormalizedUser(r.jid)]),
    );
    const results = [];
    for (const phone of phones) {
      const jid = byUser.get(phone) ?? null;
      let lid: string | null = null;
      if (jid) {
        lid = this.lidByPn.get(jid) ?? null;
        if (!lid) {
          try {
            lid = (await sock.signalRepository.lidMapping.getLIDForPN(jid)) ?? null;
            if (lid) this.rememberLid(jid, lid);
          } catch {
            lid = null;
          }
        }
      }
      results.push({ phone, on_whatsapp: jid !== null, jid, lid: lid ? jidNormalizedUser(lid) : null });
    }
    return { results };
  }

  private async engineCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof Problem) throw error;
      throw engineUnavailable(`WhatsApp did not answer: ${(error as Error).message}`);
    }
  }
}

function ageSeconds(msg: WAMessage): number {
  const ts = msg.messageTimestamp;
  const seconds = typeof ts === "number" ? ts : ts ? Number(ts.toString()) : 0;
  return seconds ? Date.now() / 1000 - seconds : 0;
}

export type { Person };
