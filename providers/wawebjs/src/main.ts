// The whatsapp-web.js worker: wires the parts together and owns start-up and the ways to stop (protocol §2, §3, §9).

import fs from "node:fs";
import path from "node:path";
import { EventSink, SentLog, Spool, lockDirectory, utcNow } from "@wagw/node-kit";
import { Api } from "./api.js";
import { ConfigError, configFromEnv, formatListen, type Config } from "./config.js";
import { GatewayClient } from "./gateway.js";
import { Logger } from "./log.js";
import { WawebjsSession } from "./session.js";
import { SnapshotStore } from "./store.js";
import { PROTOCOL, PROVIDER, PROVIDER_VERSION } from "./version.js";

const EXIT_OK = 0;
const EXIT_FAILED = 1;
// EX_TEMPFAIL: a newer epoch owns the instance; the runtime must not restart this one.
const EXIT_SUPERSEDED = 75;
// §9: exit within 15 s of SIGTERM or /v1/shutdown. The browser gets a few seconds, the spool the rest.
const SHUTDOWN_BUDGET_SECONDS = 13;
const SHUTDOWN_FLUSH_SECONDS = 10;

class Worker {
  readonly startedAt = utcNow();
  private readonly gateway: GatewayClient;
  private readonly spool: Spool;
  private readonly sink: EventSink;
  private readonly sent: SentLog;
  private readonly session: WawebjsSession;
  private readonly api: Api;
  private stopRequested: ((kind: "shutdown" | "superseded") => void) | null = null;
  private readonly stopped: Promise<"shutdown" | "superseded">;
  private stopReason = "";

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.stopped = new Promise((resolve) => {
      this.stopRequested = resolve;
    });
    this.gateway = new GatewayClient(config.gatewayUrl, config.instanceId, config.token, config.epoch, () => {
      this.log.warning("epoch superseded: a newer worker owns this instance; stopping now");
      this.stopRequested?.("superseded");
    });
    this.spool = new Spool(path.join(config.dataDir, "spool"), log);
    this.sink = new EventSink(this.spool, this.gateway, log);
    this.sent = new SentLog(path.join(config.dataDir, "sent.jsonl"), log);
    const store = new SnapshotStore(this.gateway, path.join(config.dataDir, "wwebjs"), log);
    this.session = new WawebjsSession(config, this.gateway, store, this.sink, this.sent, log);
    this.api = new Api(config, this.session, this, log);
  }

  get spooledEvents(): number {
    return this.sink.spooled;
  }

  requestShutdown(reason: string): void {
    if (!this.stopReason) {
      this.stopReason = reason;
      this.log.info("shutdown requested", { reason });
    }
    this.stopRequested?.("shutdown");
  }

  async run(): Promise<number> {
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => this.requestShutdown(signal));
    let address: { host: string; port: number };
    try {
      address = await this.api.listen(this.config.listenHost, this.config.listenPort);
    } catch (error) {
      this.log.error("cannot listen", {
        host: this.config.listenHost,
        port: this.config.listenPort,
        error: String(error),
      });
      return EXIT_FAILED;
    }
    const listen = formatListen(address.host, address.port);
    this.log.info("listening", { listen, spooled: this.spool.pending });
    // For the image's HEALTHCHECK when LISTEN asked for any port.
    fs.writeFileSync(path.join(this.config.dataDir, "worker.listen"), listen);
    const delivery = this.sink.run();
    this.sink.emit("worker.ready", {
      listen,
      epoch: this.config.epoch,
      provider: PROVIDER,
      provider_version: PROVIDER_VERSION,
      protocol: PROTOCOL,
      pid: process.pid,
    });
    this.session.start();
    const kind = await this.stopped;
    const deadline = Date.now() + SHUTDOWN_BUDGET_SECONDS * 1000;
    if (kind === "superseded") {
      // Nothing is reported or flushed: the newer worker speaks for the instance now.
      this.sink.stop();
      await this.session.abort();
      await this.close(delivery);
      return EXIT_SUPERSEDED;
    }
    // Graceful: the session is saved and the browser closed; status keeps answering while the last events drain.
    await this.session.stop(this.stopReason || "shutdown");
    const flushSeconds = Math.min(SHUTDOWN_FLUSH_SECONDS, Math.max(0, (deadline - Date.now()) / 1000));
    const flushed = await this.sink.flush(flushSeconds);
    if (this.gateway.superseded) {
      this.sink.stop();
      await this.close(delivery);
      return EXIT_SUPERSEDED;
    }
    if (!flushed) this.log.warning("events left in the spool for the next worker", { spooled: this.spool.pending });
    this.sink.stop();
    await this.close(delivery);
    this.log.info("stopped", { reason: this.stopReason });
    return EXIT_OK;
  }

  private async close(delivery: Promise<void>): Promise<void> {
    await Promise.race([delivery, new Promise((resolve) => setTimeout(resolve, 1000))]);
    await this.api.close();
    this.session.close();
    this.spool.close();
    this.sent.close();
  }
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = configFromEnv();
  } catch (error) {
    if (error instanceof ConfigError) {
      new Logger("info").error("bad configuration", { error: error.message });
      return EXIT_FAILED;
    }
    throw error;
  }
  const log = new Logger(config.logLevel, { instance_id: config.instanceId, epoch: config.epoch });
  // Chromium writes its shared memory files to TMPDIR and its per-user files to HOME: make sure they exist (the image
  // points both into the volume, which a new node starts empty).
  for (const dir of [process.env.TMPDIR, process.env.HOME]) {
    if (dir) {
      try {
        fs.mkdirSync(dir, { recursive: true });
      } catch {
        // Not ours to create: Chromium copes with what there is.
      }
    }
  }
  let unlock: () => void;
  try {
    unlock = await lockDirectory(config.dataDir, 20_000, log);
  } catch (error) {
    log.error("cannot take the data directory", { error: String(error) });
    return EXIT_FAILED;
  }
  try {
    return await new Worker(config, log).run();
  } finally {
    unlock();
  }
}

process.on("unhandledRejection", (reason) => {
  // whatsapp-web.js fires some page calls without awaiting them; a closed browser must not take the worker down.
  process.stdout.write(
    JSON.stringify({
      time: new Date().toISOString(),
      level: "warning",
      message: "unhandled rejection",
      error: String(reason),
    }) + "\n",
  );
});

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(EXIT_FAILED);
  },
);
