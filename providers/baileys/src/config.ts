// The start-up environment of protocol §1, and the provider settings in PROVIDER_CONFIG.

import { parseLevel, type Level } from "./log.js";

export class ConfigError extends Error {}

export interface ProviderSettings {
  /** First and longest wait between reconnect attempts, in seconds. */
  reconnectInitialSeconds: number;
  reconnectMaxSeconds: number;
  /** How long one WebSocket connect (and each query) may take. */
  connectTimeoutSeconds: number;
  /** The name WhatsApp shows under "Linked devices". */
  deviceName: string;
  /** WhatsApp Web version [major, minor, patch]; null uses the one Baileys ships with. */
  waVersion: [number, number, number] | null;
  /** "client": the control plane's message id is the WhatsApp id; "derived": a WhatsApp-style id made from it. */
  messageIdMode: "client" | "derived";
  /** Show the account online on connect (phones then stop getting notifications). */
  markOnlineOnConnect: boolean;
  /** Override of WhatsApp's WebSocket URL (tests, proxies). */
  websocketUrl: string | null;
}

export interface Config {
  instanceId: string;
  epoch: number;
  token: string;
  gatewayUrl: string;
  listenHost: string;
  listenPort: number;
  dataDir: string;
  logLevel: Level;
  provider: ProviderSettings;
}

export const DEFAULT_SETTINGS: ProviderSettings = {
  reconnectInitialSeconds: 1,
  reconnectMaxSeconds: 60,
  connectTimeoutSeconds: 20,
  deviceName: "WhatsApp Gateway",
  waVersion: null,
  messageIdMode: "client",
  markOnlineOnConnect: false,
  websocketUrl: null,
};

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const required = ["INSTANCE_ID", "WORKER_EPOCH", "WORKER_TOKEN", "GATEWAY_URL", "DATA_DIR"];
  const missing = required.filter((name) => !env[name]);
  if (missing.length) throw new ConfigError(`missing environment: ${missing.join(", ")}`);
  const epoch = Number(env.WORKER_EPOCH);
  if (!Number.isInteger(epoch) || epoch < 1) throw new ConfigError("WORKER_EPOCH must be a positive integer");
  const gatewayUrl = env.GATEWAY_URL!.replace(/\/+$/, "");
  if (!/^https?:\/\//.test(gatewayUrl)) throw new ConfigError("GATEWAY_URL must be an http:// or https:// URL");
  const [listenHost, listenPort] = parseListen(env.LISTEN || "127.0.0.1:0");
  return {
    instanceId: env.INSTANCE_ID!,
    epoch,
    token: env.WORKER_TOKEN!,
    gatewayUrl,
    listenHost,
    listenPort,
    dataDir: env.DATA_DIR!,
    logLevel: parseLevel(env.LOG_LEVEL),
    provider: parseProviderConfig(env.PROVIDER_CONFIG || "{}"),
  };
}

export function parseListen(value: string): [string, number] {
  const at = value.lastIndexOf(":");
  const portText = value.slice(at + 1);
  if (at < 0 || !/^\d+$/.test(portText) || Number(portText) > 65535) {
    throw new ConfigError(`LISTEN must be host:port, not ${JSON.stringify(value)}`);
  }
  const host = value.slice(0, at).replace(/^\[/, "").replace(/\]$/, "") || "127.0.0.1";
  return [host, Number(portText)];
}

export function formatListen(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseProviderConfig(raw: string): ProviderSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError("PROVIDER_CONFIG is not JSON");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError("PROVIDER_CONFIG must be a JSON object");
  }
  const given = parsed as Record<string, unknown>;
  const settings: ProviderSettings = { ...DEFAULT_SETTINGS };
  const positive = (key: string, fallback: number): number => {
    const value = given[key];
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new ConfigError(`PROVIDER_CONFIG.${key} must be a positive number`);
    }
    return value;
  };
  settings.reconnectInitialSeconds = positive("reconnect_initial_seconds", settings.reconnectInitialSeconds);
  settings.reconnectMaxSeconds = Math.max(
    settings.reconnectInitialSeconds,
    positive("reconnect_max_seconds", settings.reconnectMaxSeconds),
  );
  settings.connectTimeoutSeconds = positive("connect_timeout_seconds", settings.connectTimeoutSeconds);
  if (given.device_name !== undefined) {
    if (typeof given.device_name !== "string" || !given.device_name.trim()) {
      throw new ConfigError("PROVIDER_CONFIG.device_name must be a non-empty string");
    }
    settings.deviceName = given.device_name.trim();
  }
  if (given.wa_version !== undefined && given.wa_version !== null) {
    const match = typeof given.wa_version === "string" ? /^(\d+)\.(\d+)\.(\d+)$/.exec(given.wa_version) : null;
    if (!match) throw new ConfigError('PROVIDER_CONFIG.wa_version must look like "2.3000.1023456789"');
    settings.waVersion = [Number(match[1]), Number(match[2]), Number(match[3])];
  }
  if (given.message_id_mode !== undefined) {
    if (given.message_id_mode !== "client" && given.message_id_mode !== "derived") {
      throw new ConfigError('PROVIDER_CONFIG.message_id_mode must be "client" or "derived"');
    }
    settings.messageIdMode = given.message_id_mode;
  }
  if (given.mark_online_on_connect !== undefined) {
    if (typeof given.mark_online_on_connect !== "boolean") {
      throw new ConfigError("PROVIDER_CONFIG.mark_online_on_connect must be a boolean");
    }
    settings.markOnlineOnConnect = given.mark_online_on_connect;
  }
  if (given.websocket_url !== undefined && given.websocket_url !== null) {
    if (typeof given.websocket_url !== "string" || !/^wss?:\/\//.test(given.websocket_url)) {
      throw new ConfigError("PROVIDER_CONFIG.websocket_url must be a ws:// or wss:// URL");
    }
    settings.websocketUrl = given.websocket_url;
  }
  return settings;
}
