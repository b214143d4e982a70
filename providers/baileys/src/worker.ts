// The worker process: wires the parts together and owns start-up and the two ways to stop (protocol §3, §2, §9).

import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import type { AddressInfo } from "node:net";
import * as path from "node:path";

import { EventSink, SentLog, Spool, utcNow } from "@wagw/node-kit";

import { Api } from "./api.js";
import { formatListen, type Config } from "./config.js";
import { GatewayClient } from "./gateway.js";
import type { Logger } from "./log.js";
import { MediaStore } from "./media.js";
import { BaileysSession } from "./session.js";
import { PROTOCOL, PROVIDER, PROVIDER_VERSION } from "./version.js";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
// EX_TEMPFAIL: a newer epoch owns the instance; the runtime must not restart this one.
export const EXIT_SUPERSEDED = 75;
const SHUTDOWN_FLUSH_SECONDS = 10;

export class Worker {
  readonly startedAt = utcNow();
  private readonly gateway: GatewayClient;
  private readonly spool: Spool;
  private readonly sink: EventSink;
  private readonly sent: SentLog;
  private readonly session: BaileysSession;
  private readonly server: http.Server;
  private stopReason = "";
  private superseded = false;
  private stopRequested: () => void = () => undefined;
  private readonly stopping: Promise<void>;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.stopping = new Promise((resolve) => (this.stopRequested = resolve));
    // Baileys encrypts outbound media into temporary files; the image points TMPDIR into the data volume, since a
    // container's /tmp is a small tmpfs and documents may be 100 MB.
    fs.mkdirSync(os.tmpdir(), { recursive: true });
    this.gateway = new GatewayClient(config.gatewayUrl, config.instanceId, config.token, config.epoch, () =>
      this.onSuperseded(),
    );
    this.spool = new Spool(path.join(config.dataDir, "spool"), log);
    this.sink = new EventSink(this.spool, this.gateway, log);
    this.sent = new SentLog(path.join(config.dataDir, "sent.jsonl"), log);
    const media = new MediaStore(path.join(config.dataDir, "media"));
    this.session = new BaileysSession({
      instanceId: config.instanceId,
      settings: config.provider,
      store: this.gateway,
      sink: this.sink,
      media,
      sent: this.sent,
      log,
    });
    const api = new Api(config, this.session, media, this, log);
    this.server = http.createServer({ keepAliveTimeout: 5000 }, api.listener);
  }

  get spooledEvents(): number {
    return this.sink.spooled;
  }

  requestShutdown(reason: string): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.log.info("shutdown requested", { reason });
    this.stopRequested();
  }

  private onSuperseded(): void {
    if (this.superseded) return;
    this.superseded = true;
    this.log.warning("epoch superseded: a newer worker owns this instance; stopping now");
    // Stop the engine at once, before anything else can reach WhatsApp or the control plane.
    this.session.abort();
    this.sink.stop();
    this.stopRequested();
  }

  async run(): Promise<number> {
    const onSignal = (signal: NodeJS.Signals): void => this.requestShutdown(signal);
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    let listen: string;
    try {
      listen = await new Promise<string>((resolve, reject) => {
        this.server.once("error", reject);
        this.server.listen(this.config.listenPort, this.config.listenHost, () => {
          const address = this.server.address() as AddressInfo;
          resolve(formatListen(address.address, address.port));
        });
      });
    } catch (error) {
      this.log.error("cannot listen", {
        host: this.config.listenHost,
        port: this.config.listenPort,
        error: String(error),
      });
      return EXIT_FAILED;
    }
    this.log.info("listening", { listen, spooled: this.spool.pending });
    try {
      // For the image's HEALTHCHECK when LISTEN asked for any port.
      fs.writeFileSync(path.join(this.config.dataDir, "worker.listen"), listen + "\n");
    } catch (error) {
      this.log.warning("could not record the listen address", { error: String(error) });
    }
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
    await this.stopping;
    if (this.superseded) return this.stopSuperseded();
    // Graceful: keep serving status while the last events drain; the stored session stays valid.
    await withTimeout(this.session.stop(this.stopReason), 3);
    const flushed = await this.sink.flush(SHUTDOWN_FLUSH_SECONDS);
    if (this.superseded) return this.stopSuperseded();
    if (!flushed) this.log.warning("events left in the spool for the next worker", { spooled: this.spool.pending });
    this.sink.stop();
    await withTimeout(delivery, 1);
    this.close();
    this.log.info("stopped", { reason: this.stopReason });
    return EXIT_OK;
  }

  private stopSuperseded(): number {
    // No state change is reported and nothing is flushed: the newer worker speaks for the instance now.
    this.session.abort();
    this.sink.stop();
    this.close();
    return EXIT_SUPERSEDED;
  }

  private close(): void {
    this.server.closeAllConnections();
    this.server.close();
    this.spool.close();
    this.sent.close();
  }
}

async function withTimeout(promise: Promise<unknown>, seconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, seconds * 1000))),
  ]);
  clearTimeout(timer);
}
