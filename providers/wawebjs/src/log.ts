// One JSON object a line on stdout (docs/worker-protocol.md §1); the runtime keeps the logs.

const LEVELS = { debug: 10, info: 20, warning: 30, error: 40 } as const;
export type Level = keyof typeof LEVELS;
export type Fields = Record<string, unknown>;

export class Logger {
  private readonly threshold: number;

  constructor(
    level: string,
    private readonly base: Fields = {},
  ) {
    this.threshold = LEVELS[(level in LEVELS ? level : "info") as Level];
  }

  child(fields: Fields): Logger {
    const child = new Logger("debug", { ...this.base, ...fields });
    (child as unknown as { threshold: number }).threshold = this.threshold;
    return child;
  }

  debug(message: string, fields: Fields = {}): void {
    this.write("debug", message, fields);
  }
  info(message: string, fields: Fields = {}): void {
    this.write("info", message, fields);
  }
  warning(message: string, fields: Fields = {}): void {
    this.write("warning", message, fields);
  }
  error(message: string, fields: Fields = {}): void {
    this.write("error", message, fields);
  }

  private write(level: Level, message: string, fields: Fields): void {
    if (LEVELS[level] < this.threshold) return;
    const line = { time: new Date().toISOString(), level, message, ...this.base, ...fields };
    process.stdout.write(
      JSON.stringify(line, (_key, value: unknown) => (value instanceof Error ? String(value) : value)) + "\n",
    );
  }
}
