// The on-disk event spool (docs/worker-protocol.md §6): events survive until the gateway has acknowledged them.
//
// Layout in `DATA_DIR/spool/` (the same as the sandbox worker's, so the reasoning carries over; both Node.js workers use this one):
// - `events-<generation>.jsonl`: one event a line, appended and fsync'ed before anyone tries to deliver it;
// - `cursor.json`: `{"generation", "offset"}`, the byte offset up to which that generation is delivered, replaced
//   atomically (write, fsync, rename, fsync the directory).
// Acknowledging a batch is one small atomic write. Compaction starts a new generation: empty once everything is
// delivered, or a copy of the undelivered tail once the delivered head is large. A crash at any point leaves either
// the old file and cursor or the new ones; files of other generations are leftovers, deleted on open. A torn last
// line (a crash mid-append) is cut off on open: that append never returned, so nobody relied on it.

import * as fs from "node:fs";
import * as path from "node:path";

import type { LogSink } from "./log.js";

const COMPACT_BYTES = 1024 * 1024;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const CURSOR = "cursor.json";

/** One event as the gateway receives it (protocol §6): a JSON object. */
export type SpooledEvent = Record<string, unknown>;

export interface SpoolBatch {
  events: SpooledEvent[];
  generation: number;
  /** Byte offset just past the batch's last line. */
  end: number;
  skipped: number;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function decode(line: Buffer): SpooledEvent | null {
  try {
    const value: unknown = JSON.parse(line.toString("utf8"));
    return value && typeof value === "object" && !Array.isArray(value) ? (value as SpooledEvent) : null;
  } catch {
    return null;
  }
}

export class Spool {
  private generation: number;
  private offset: number;
  private size = 0;
  private pendingCount = 0;
  private appendFd: number;

  constructor(
    private readonly dir: string,
    private readonly log: LogSink,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    [this.generation, this.offset] = this.readCursor();
    this.removeOtherGenerations();
    this.recover();
    this.appendFd = fs.openSync(this.file(this.generation), "a");
  }

  /** Events spooled and not yet acknowledged by the gateway. */
  get pending(): number {
    return this.pendingCount;
  }

  close(): void {
    fs.closeSync(this.appendFd);
  }

  /** Durably add `events`, in order; returns once they are on disk. */
  append(events: SpooledEvent[]): void {
    if (!events.length) return;
    const data = Buffer.from(events.map((event) => JSON.stringify(event) + "\n").join(""), "utf8");
    try {
      let written = 0;
      while (written < data.length) written += fs.writeSync(this.appendFd, data, written);
      fs.fsyncSync(this.appendFd);
    } catch (error) {
      // Never leave half a line behind: the next append would glue a valid event onto it.
      try {
        fs.ftruncateSync(this.appendFd, this.size);
      } catch {
        // the original error is the one to report
      }
      throw error;
    }
    this.size += data.length;
    this.pendingCount += events.length;
  }

  /** Up to `limit` undelivered events from the oldest, without removing them. */
  peek(limit: number): SpoolBatch {
    const events: SpooledEvent[] = [];
    let skipped = 0;
    let end = this.offset;
    let batchBytes = 0;
    const toRead = this.size - this.offset;
    if (toRead <= 0) return { events, generation: this.generation, end, skipped };
    const fd = fs.openSync(this.file(this.generation), "r");
    try {
      const chunk = Buffer.alloc(Math.min(toRead, MAX_BATCH_BYTES + 64 * 1024));
      const read = fs.readSync(fd, chunk, 0, chunk.length, this.offset);
      let start = 0;
      while (events.length < limit) {
        const newline = chunk.indexOf(10, start);
        if (newline < 0 || newline >= read) break;
        const line = chunk.subarray(start, newline + 1);
        if (events.length && batchBytes + line.length > MAX_BATCH_BYTES) break;
        start = newline + 1;
        end += line.length;
        const event = decode(line);
        if (event === null) {
          skipped += 1;
          this.log.warning("spool: skipping an unreadable event", { generation: this.generation });
          continue;
        }
        events.push(event);
        batchBytes += line.length;
      }
      if (!events.length && !skipped && read > 0 && start === 0) {
        // One line longer than the read window: read it whole.
        const whole = fs.readFileSync(this.file(this.generation)).subarray(this.offset, this.size);
        const newline = whole.indexOf(10);
        if (newline >= 0) {
          const event = decode(whole.subarray(0, newline + 1));
          end += newline + 1;
          if (event) events.push(event);
          else skipped += 1;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    return { events, generation: this.generation, end, skipped };
  }

  /** The gateway has `batch`: drop it for good, compacting when it pays. */
  ack(batch: SpoolBatch): void {
    if (batch.generation !== this.generation || batch.end <= this.offset) return;
    this.pendingCount -= batch.events.length;
    if (batch.end >= this.size) {
      this.startGeneration(Buffer.alloc(0));
    } else if (batch.end >= COMPACT_BYTES && batch.end >= this.size - batch.end) {
      const tail = fs.readFileSync(this.file(this.generation)).subarray(batch.end, this.size);
      this.startGeneration(tail);
    } else {
      this.writeCursor(this.generation, batch.end);
      this.offset = batch.end;
    }
  }

  private file(generation: number): string {
    return path.join(this.dir, `events-${String(generation).padStart(8, "0")}.jsonl`);
  }

  private generations(): number[] {
    return fs
      .readdirSync(this.dir)
      .map((name) => /^events-(\d+)\.jsonl$/.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private readCursor(): [number, number] {
    try {
      const cursor = JSON.parse(fs.readFileSync(path.join(this.dir, CURSOR), "utf8")) as Record<string, unknown>;
      const generation = Number(cursor.generation);
      const offset = Number(cursor.offset);
      if (Number.isInteger(generation) && generation >= 1 && Number.isInteger(offset) && offset >= 0) {
        return [generation, offset];
      }
      this.log.warning("spool: unreadable cursor, re-delivering from the oldest file");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        this.log.warning("spool: unreadable cursor, re-delivering from the oldest file");
      }
    }
    // The oldest file is the safe start: a compacted generation only copies the tail of the one before it.
    const generation = this.generations()[0] ?? 1;
    fs.closeSync(fs.openSync(this.file(generation), "a"));
    this.writeCursor(generation, 0);
    return [generation, 0];
  }

  private removeOtherGenerations(): void {
    for (const generation of this.generations()) {
      if (generation !== this.generation) fs.rmSync(this.file(generation), { force: true });
    }
    fs.rmSync(path.join(this.dir, `${CURSOR}.tmp`), { force: true });
  }

  private recover(): void {
    const file = this.file(this.generation);
    fs.closeSync(fs.openSync(file, "a"));
    let content = fs.readFileSync(file);
    if (this.offset > content.length) {
      this.log.warning("spool: cursor past the end of its file, re-delivering the file");
      this.writeCursor(this.generation, 0);
      this.offset = 0;
    }
    let goodEnd = this.offset;
    let pending = 0;
    for (;;) {
      const newline = content.indexOf(10, goodEnd);
      if (newline < 0) break;
      if (decode(content.subarray(goodEnd, newline + 1)) !== null) pending += 1;
      goodEnd = newline + 1;
    }
    if (goodEnd < content.length) {
      this.log.warning("spool: dropping a torn last line", { bytes: content.length - goodEnd });
      fs.truncateSync(file, goodEnd);
      content = content.subarray(0, goodEnd);
    }
    this.size = content.length;
    this.pendingCount = pending;
  }

  private writeCursor(generation: number, offset: number): void {
    const tmp = path.join(this.dir, `${CURSOR}.tmp`);
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeSync(fd, JSON.stringify({ generation, offset }));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(this.dir, CURSOR));
    fsyncDir(this.dir);
  }

  private startGeneration(content: Buffer): void {
    const old = this.generation;
    const next = old + 1;
    const fd = fs.openSync(this.file(next), "w");
    try {
      if (content.length) fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.writeCursor(next, 0);
    fs.closeSync(this.appendFd);
    this.generation = next;
    this.offset = 0;
    this.size = content.length;
    this.appendFd = fs.openSync(this.file(next), "a");
    fs.rmSync(this.file(old), { force: true });
  }
}

/**
 * Hold `dir` (DATA_DIR) for the life of the process: two workers on one spool would interleave appends and acknowledge
 * each other's events. Node has no flock, so the claim is a lock file holding our pid, taken with O_EXCL; a claim whose
 * pid is dead (a predecessor killed with -9) is taken over, one still exiting is waited for up to `timeoutMs`.
 * Returns the release, which removes the lock file if it is still ours.
 */
export async function lockDirectory(dir: string, timeoutMs: number, log?: LogSink): Promise<() => void> {
  fs.mkdirSync(dir, { recursive: true });
  const lockPath = path.join(dir, LOCK);
  const deadline = Date.now() + timeoutMs;
  let waiting = false;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, "wx");
      fs.writeSync(fd, String(process.pid));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      return () => release(lockPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let holder = NaN;
    try {
      holder = Number(fs.readFileSync(lockPath, "utf8").trim());
    } catch {
      // vanished between open and read: try again
    }
    if (!Number.isInteger(holder) || holder <= 0 || holder === process.pid || !processAlive(holder)) {
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    if (Date.now() >= deadline) throw new Error(`${dir} is in use by process ${holder}`);
    if (!waiting) log?.info("waiting for the previous worker to release the data directory", { pid: holder });
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const LOCK = ".lock.pid";

function release(lockPath: string): void {
  try {
    if (Number(fs.readFileSync(lockPath, "utf8").trim()) === process.pid) fs.rmSync(lockPath, { force: true });
  } catch {
    // nothing to release
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
