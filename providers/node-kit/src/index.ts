// @wagw/node-kit: what the Node.js workers (providers/baileys, providers/wawebjs) share, independent of the engine.

export { Backoff, sleep } from "./backoff.js";
export { EventSink, type Emitter } from "./events.js";
export { EpochSuperseded, GatewayUnavailable, type EventGateway } from "./gateway.js";
export { derivedId, isoIn, newEventId, ulid, utcNow } from "./ids.js";
export { Journal, SentLog, type SendResult } from "./journal.js";
export type { Fields, LogSink } from "./log.js";
export { Spool, lockDirectory, type SpoolBatch, type SpooledEvent } from "./spool.js";
