// What the control plane's answers mean to every worker (docs/worker-protocol.md §2, §6): each worker's client of
// the internal API throws these, and the shared code (the event sink) tells them apart.

/** The first `409 epoch_superseded`: a newer worker owns the instance; every later call fails at once. */
export class EpochSuperseded extends Error {
  constructor() {
    super("epoch superseded: a newer worker owns this instance");
  }
}

/** No usable answer: unreachable, timed out, 5xx, or (for state calls) any unexpected status. */
export class GatewayUnavailable extends Error {}

/** The part of a worker's gateway client that event delivery uses. */
export interface EventGateway {
  /** True once the gateway answered `epoch_superseded`. */
  readonly superseded: boolean;
  /** `POST /events` with one batch; throws `GatewayUnavailable` or `EpochSuperseded`. */
  postEvents(events: Record<string, unknown>[]): Promise<{ status: number; code?: string; detail?: string }>;
}
