// `node dist/healthcheck.js`: the image's HEALTHCHECK. Exits 0 when the worker in this container answers
// GET /v1/health, 1 otherwise. The port comes from LISTEN, or from DATA_DIR/worker.listen when LISTEN asked for any.

import { readFileSync } from "node:fs";
import path from "node:path";

function port(): string | null {
  const fromEnv = /:(\d+)$/.exec(process.env.LISTEN ?? "")?.[1];
  if (fromEnv && fromEnv !== "0") return fromEnv;
  try {
    const written = readFileSync(path.join(process.env.DATA_DIR ?? "/data", "worker.listen"), "utf8").trim();
    return /:(\d+)$/.exec(written)?.[1] ?? null;
  } catch {
    return null;
  }
}

const found = port();
if (!found) process.exit(1);
fetch(`http://127.0.0.1:${found}/v1/health`, { signal: AbortSignal.timeout(3000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
