// Small fsync'ed JSON-lines maps: the results of sends by client id (protocol §5 idempotency), so a repeated `id` is
// answered without sending twice, and the way back from a provider message id to the control plane's id for
// `message.status`; the wawebjs worker also keeps its media index in one.

import fs from "node:fs";
import path from "node:path";
import type { LogSink } from "./log.js";

/**
 * An append-only map on disk, rewritten with the newest `keep` entries when the file doubles. A torn last line from
 * a crash is ignored: what it recorded was never answered to anyone.
 */
export class Journal<V> {
  private readonly entries = new Map<string, V>();
  private lines = 0;
  private fd: number;

  constructor(
    private readonly file: string,
    log: LogSink,
    private readonly keep = 10_000,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let text = "";
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const rows = text.split("\n");
    const torn = rows.pop() !== "";
    for (const row of rows) {
      this.lines += 1;
      try {
        // `{key, value}`; the Baileys worker's sent log wrote `{id, result}` before it moved here.
        const entry = JSON.parse(row) as { key?: string; value?: V; id?: string; result?: V };
        const key = entry.key ?? entry.id;
        const value = entry.value ?? entry.result;
        if (typeof key !== "string" || value === undefined) throw new Error("not an entry");
        this.entries.delete(key);
        this.entries.set(key, value);
      } catch {
        log.warning("journal: skipping an unreadable line", { file });
      }
    }
    this.trim();
    if (torn || this.lines > 2 * keep || this.lines !== this.entries.size) this.rewrite();
    this.fd = fs.openSync(file, "a");
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  values(): IterableIterator<[string, V]> {
    return this.entries.entries();
  }

  put(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    fs.writeSync(this.fd, JSON.stringify({ key, value }) + "\n");
    fs.fsyncSync(this.fd);
    this.lines += 1;
    this.trim();
    if (this.lines > 2 * this.keep) {
      fs.closeSync(this.fd);
      this.rewrite();
      this.fd = fs.openSync(this.file, "a");
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private trim(): void {
    while (this.entries.size > this.keep) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  private rewrite(): void {
    const tmp = `${this.file}.tmp`;
    const fd = fs.openSync(tmp, "w");
    try {
      for (const [key, value] of this.entries) fs.writeSync(fd, JSON.stringify({ key, value }) + "\n");
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    this.lines = this.entries.size;
  }
}

export interface SendResult {
  id: string;
  provider_message_id: string;
  status: "sent" | "queued";
}

/** Results of sends by client id, and client ids by provider id (acks name only the provider's id). */
export class SentLog {
  private readonly journal: Journal<SendResult>;
  private readonly byProviderId = new Map<string, string>();

  constructor(file: string, log: LogSink) {
    this.journal = new Journal(file, log);
    for (const [clientId, result] of this.journal.values()) this.byProviderId.set(result.provider_message_id, clientId);
  }

  get(clientId: string): SendResult | undefined {
    return this.journal.get(clientId);
  }

  clientIdOf(providerMessageId: string): string | undefined {
    return this.byProviderId.get(providerMessageId);
  }

  put(result: SendResult): void {
    this.journal.put(result.id, result);
    this.byProviderId.set(result.provider_message_id, result.id);
  }

  close(): void {
    this.journal.close();
  }
}
