// What node-kit needs of a worker's logger. Each worker keeps its own Logger (its line format is its own); any object
// with these four methods will do.

export type Fields = Record<string, unknown>;

export interface LogSink {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warning(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
}
