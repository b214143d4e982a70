// Capped exponential backoff with a little jitter, so many workers do not retry in step.

export class Backoff {
  private nextDelay: number;

  /**
   * Delays start at `first` seconds and double up to `cap`; each is spread by ±`jitter` (a fraction, 0 for none).
   * `random` is there for tests.
   */
  constructor(
    private readonly first: number,
    private readonly cap: number,
    private readonly jitter = 0.1,
    private readonly random: () => number = Math.random,
  ) {
    this.nextDelay = first;
  }

  /** Seconds to wait before the next attempt. */
  next(): number {
    const delay = this.nextDelay;
    this.nextDelay = Math.min(this.nextDelay * 2, this.cap);
    return delay * (1 + this.jitter * (this.random() * 2 - 1));
  }

  reset(): void {
    this.nextDelay = this.first;
  }
}

/** Wait `seconds`, or less if `signal` aborts; never rejects. */
export function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, seconds * 1000));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
