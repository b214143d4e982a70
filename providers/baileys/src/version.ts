import { readFileSync } from "node:fs";

export const PROTOCOL = 1;
export const PROVIDER = "baileys";

function readVersion(): string {
  try {
    const engine = JSON.parse(
      readFileSync(new URL("../node_modules/baileys/package.json", import.meta.url), "utf8"),
    ) as { version?: string };
    const own = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
    return `${own.version ?? "0.0.0"}+baileys.${engine.version ?? "unknown"}`;
  } catch {
    return "0.0.0+baileys.unknown";
  }
}

/** The worker's version and the engine's, e.g. `0.1.0+baileys.7.0.0-rc14`. */
export const PROVIDER_VERSION = readVersion();
