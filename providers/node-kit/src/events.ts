// Emitting events: into the spool first, then to the gateway in batches (docs/worker-protocol.md §6).

import { Backoff, sleep } from "./backoff.js";
import { EpochSuperseded, GatewayUnavailable, type EventGateway } from "./gateway.js";
import { newEventId, utcNow } from "./ids.js";
import type { LogSink } from "./log.js";
import type { Spool } from "./spool.js";

const MAX_BATCH_EVENTS = 500;

/** What the session needs to report things: emit is synchronous and durable when it returns. */
export interface Emitter {
  emit(type: string, data: Record<string, unknown>, eventId?: string): void;
}

export class EventSink implements Emitter {
  private wake: () => void = () => undefined;
  private progress: (() => void)[] = [];
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly spool: Spool,
    private readonly gateway: EventGateway,
    private readonly log: LogSink,
  ) {}

  get spooled(): number {
    return this.spool.pending;
  }

  /**
   * Spool one event (fsync'ed when this returns) and wake delivery. Synchronous on purpose: whoever emits knows the
   * event is durable before its next step, and events keep the order in which they were emitted. After `stop` events
   * are still spooled, for the next worker to deliver.
   */
  emit(type: string, data: Record<string, unknown>, eventId?: string): void {
    if (this.gateway.superseded) {
      // The newer worker may share this DATA_DIR and would deliver our stale news as its own.
      this.log.debug("event dropped: superseded", { type });
      return;
    }
    const event = { id: eventId ?? newEventId(), type, timestamp: utcNow(), data };
    this.spool.append([event]);
    this.log.debug("event spooled", { event_id: event.id, type });
    this.wake();
  }

  /** Deliver spooled events, oldest first, until stopped or superseded. */
  async run(): Promise<void> {
    const backoff = new Backoff(0.2, 5, 0);
    try {
      while (!this.gateway.superseded && !this.abort.signal.aborted) {
        let delivered: boolean;
        try {
          delivered = await this.deliverOnce();
        } catch (error) {
          if (error instanceof EpochSuperseded) return;
          // A full disk or a bug: keep the events and keep trying rather than lose the loop.
          this.log.error("events: delivery failed", { error: String(error) });
          delivered = false;
        }
        if (delivered) backoff.reset();
        else await sleep(backoff.next(), this.abort.signal);
      }
    } finally {
      this.notifyProgress();
    }
  }

  /** Stop delivering (after a flush, or when superseded); the spool keeps what is left. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.wake();
  }

  private async deliverOnce(): Promise<boolean> {
    const batch = this.spool.peek(MAX_BATCH_EVENTS);
    if (!batch.events.length) {
      if (batch.skipped) this.spool.ack(batch);
      else
        await new Promise<void>((resolve) => {
          this.wake = () => {
            this.wake = () => undefined;
            resolve();
          };
          if (this.spool.pending || this.abort.signal.aborted) this.wake();
        });
      return true;
    }
    let answer;
    try {
      answer = await this.gateway.postEvents(batch.events);
    } catch (error) {
      if (error instanceof GatewayUnavailable) {
        this.log.warning("events: gateway unreachable, will retry", {
          error: error.message,
          spooled: this.spool.pending,
        });
        return false;
      }
      throw error;
    }
    if (answer.status === 200) {
      this.spool.ack(batch);
      this.notifyProgress();
      this.log.debug("events delivered", { count: batch.events.length, spooled: this.spool.pending });
      return true;
    }
    // Never drop events: a 401 is a gateway that does not know this epoch yet (or a misconfiguration an operator
    // fixes), and any other refusal is retried too, loudly.
    const fields = { status: answer.status, code: answer.code, detail: answer.detail, spooled: this.spool.pending };
    if (answer.status === 401 || answer.status >= 500)
      this.log.warning("events: gateway refused the batch, will retry", fields);
    else this.log.error("events: gateway refused the batch, will retry", fields);
    return false;
  }

  private notifyProgress(): void {
    const waiting = this.progress;
    this.progress = [];
    for (const resolve of waiting) resolve();
  }

  /** Wait until every spooled event is delivered, at most `seconds` (or until stopped); true when the spool is empty. */
  async flush(seconds: number): Promise<boolean> {
    const deadline = Date.now() + seconds * 1000;
    while (this.spool.pending && !this.gateway.superseded && !this.stopped && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.progress.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.spool.pending === 0;
  }
}
