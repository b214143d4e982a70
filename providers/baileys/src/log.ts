// One JSON object a line on stdout (protocol §1), and the same sink behind Baileys' pino-shaped logger.

const LEVELS = { trace: 10, debug: 20, info: 30, warning: 40, error: 50 } as const;
export type Level = keyof typeof LEVELS;

export function parseLevel(value: string | undefined): Level {
  const normal = (value ?? "info").toLowerCase();
  if (normal === "warn") return "warning";
  return normal in LEVELS ? (normal as Level) : "info";
}

export type Fields = Record<string, unknown>;

export class Logger {
  constructor(
    readonly level: Level = "info",
    private readonly context: Fields = {},
  ) {}

  child(fields: Fields): Logger {
    return new Logger(this.level, { ...this.context, ...fields });
  }

  enabled(level: Level): boolean {
    return LEVELS[level] >= LEVELS[this.level];
  }

  log(level: Level, message: string, fields: Fields = {}): void {
    if (!this.enabled(level)) return;
    const line: Fields = { ts: new Date().toISOString(), level, msg: message, ...this.context, ...fields };
    let text: string;
    try {
      text = JSON.stringify(line, errorReplacer);
    } catch {
      text = JSON.stringify({ ts: line.ts, level, msg: message, note: "fields not serialisable" });
    }
    process.stdout.write(text + "\n");
  }

  debug(message: string, fields?: Fields): void {
    this.log("debug", message, fields);
  }
  info(message: string, fields?: Fields): void {
    this.log("info", message, fields);
  }
  warning(message: string, fields?: Fields): void {
    this.log("warning", message, fields);
  }
  error(message: string, fields?: Fields): void {
    this.log("error", message, fields);
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value && typeof value === "object" && (value as { type?: unknown }).type === "Buffer") return "<bytes>";
  return value;
}

/** Baileys' ILogger over our Logger. Baileys logs a lot at info; it is shifted one level down. */
export interface EngineLogger {
  level: string;
  child(obj: Record<string, unknown>): EngineLogger;
  trace(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

export function engineLogger(log: Logger): EngineLogger {
  const emit = (level: Level, obj: unknown, msg?: string): void => {
    if (!log.enabled(level)) return;
    if (typeof obj === "string") {
      log.log(level, obj);
      return;
    }
    const fields: Fields = obj && typeof obj === "object" ? summarise(obj as Fields) : { value: obj };
    log.log(level, msg ?? "baileys", fields);
  };
  return {
    level: log.level === "warning" ? "warn" : log.level,
    child: (obj) => engineLogger(log.child(obj)),
    trace: () => undefined,
    debug: (obj, msg) => emit("debug", obj, msg),
    info: (obj, msg) => emit("debug", obj, msg),
    warn: (obj, msg) => emit("warning", obj, msg),
    error: (obj, msg) => emit("error", obj, msg),
  };
}

// Baileys passes whole binary nodes and key material; a log line keeps only scalars and error messages.
function summarise(fields: Fields): Fields {
  const out: Fields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value instanceof Error) out[key] = value.message;
    else if (value === null || ["string", "number", "boolean"].includes(typeof value)) out[key] = value;
    else if (key === "err" || key === "error") out[key] = String((value as { message?: unknown }).message ?? value);
  }
  return out;
}
