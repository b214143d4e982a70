import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const worker = require("../package.json") as { version: string };
const engine = require("whatsapp-web.js/package.json") as { version: string };

export const PROTOCOL = 1;
export const PROVIDER = "wawebjs";
/** The worker's own version and the engine's, e.g. `1.0.0+wwebjs.1.34.7`. */
export const PROVIDER_VERSION = `${worker.version}+wwebjs.${engine.version}`;
