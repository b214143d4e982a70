// The worker's start-up environment (docs/worker-protocol.md §1) and its PROVIDER_CONFIG.

import path from "node:path";

export class ConfigError extends Error {}

export interface ProviderSettings {
  /** The system Chromium; the image and hosts install Debian's `chromium`. */
  chromiumPath: string;
  /** First and largest wait between connection attempts, in seconds (capped exponential backoff). */
  retryInitialSeconds: number;
  retryMaxSeconds: number;
  /** How long one attempt may take to load WhatsApp Web before the browser is closed and the attempt retried. */
  connectTimeoutSeconds: number;
  /** How often RemoteAuth uploads the browser profile while connected (whatsapp-web.js refuses less than 60 s). */
  backupIntervalSeconds: number;
  /** A WhatsApp Web version to pin (whatsapp-web.js's default when empty). */
  webVersion: string;
  /**
   * Run Chromium as one process (`--single-process`). Off by default: with the worker's other flags (no zygote, GPU
   * and network in the browser process) the usual browser-plus-renderer pair measured less (docs/providers/wawebjs.md).
   */
  singleProcess: boolean;
  /** More Chromium flags (a proxy, host rules), after the worker's own. */
  chromiumArgs: string[];
}

export interface Config {
  instanceId: string;
  epoch: number;
  token: string;
  gatewayUrl: string;
  listenHost: string;
  listenPort: number;
  dataDir: string;
  logLevel: string;
  provider: ProviderSettings;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`${name} is required`);
  return value;
}

export function parseListen(value: string): [string, number] {
  const at = value.lastIndexOf(":");
  const host = value.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(value.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`LISTEN must be host:port, not ${JSON.stringify(value)}`);
  }
  return [host, port];
}

export function formatListen(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function positive(raw: Record<string, unknown>, key: string, fallback: number, minimum = 0): number {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value < minimum) {
    throw new ConfigError(`PROVIDER_CONFIG.${key} must be a number of at least ${minimum || "more than 0"}`);
  }
  return value;
}

export function parseProviderConfig(text: string): ProviderSettings {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigError("PROVIDER_CONFIG is not JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError("PROVIDER_CONFIG must be a JSON object");
  }
  const settings = raw as Record<string, unknown>;
  const chromium = settings.chromium_path ?? process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  const webVersion = settings.web_version ?? "";
  if (typeof chromium !== "string" || typeof webVersion !== "string") {
    throw new ConfigError("PROVIDER_CONFIG.chromium_path and web_version must be strings");
  }
  const chromiumArgs = settings.chromium_args ?? [];
  if (!Array.isArray(chromiumArgs) || !chromiumArgs.every((a) => typeof a === "string" && a.startsWith("--"))) {
    throw new ConfigError("PROVIDER_CONFIG.chromium_args must be a list of --flags");
  }
  const singleProcess = settings.single_process ?? false;
  if (typeof singleProcess !== "boolean") throw new ConfigError("PROVIDER_CONFIG.single_process must be a boolean");
  const retryInitialSeconds = positive(settings, "retry_initial_seconds", 2);
  return {
    chromiumPath: chromium,
    retryInitialSeconds,
    retryMaxSeconds: Math.max(retryInitialSeconds, positive(settings, "retry_max_seconds", 60)),
    connectTimeoutSeconds: positive(settings, "connect_timeout_seconds", 90),
    backupIntervalSeconds: positive(settings, "backup_interval_seconds", 300, 60),
    webVersion,
    singleProcess,
    chromiumArgs: chromiumArgs as string[],
  };
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const epoch = Number(required(env, "WORKER_EPOCH"));
  if (!Number.isInteger(epoch) || epoch < 1) throw new ConfigError("WORKER_EPOCH must be a positive integer");
  const [listenHost, listenPort] = parseListen(env.LISTEN || "127.0.0.1:0");
  return {
    instanceId: required(env, "INSTANCE_ID"),
    epoch,
    token: required(env, "WORKER_TOKEN"),
    gatewayUrl: required(env, "GATEWAY_URL").replace(/\/+$/, ""),
    listenHost,
    listenPort,
    dataDir: path.resolve(required(env, "DATA_DIR")),
    logLevel: env.LOG_LEVEL || "info",
    provider: parseProviderConfig(env.PROVIDER_CONFIG || "{}"),
  };
}
