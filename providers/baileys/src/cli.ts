// The worker process from the environment (protocol §1); loaded by main.ts.

import { lockDirectory } from "@wagw/node-kit";

import { ConfigError, configFromEnv, type Config } from "./config.js";
import { Logger } from "./log.js";
import { EXIT_FAILED, Worker } from "./worker.js";

// EX_CONFIG: restarting with the same environment cannot help.
const EXIT_CONFIG = 78;
// How long to wait for a predecessor on the same DATA_DIR to finish exiting (its own limit is 15 s).
const DATA_DIR_LOCK_SECONDS = 20;

async function main(): Promise<number> {
  let config: Config;
  try {
    config = configFromEnv();
  } catch (error) {
    new Logger().error("invalid configuration", { error: String(error) });
    return error instanceof ConfigError ? EXIT_CONFIG : EXIT_FAILED;
  }
  const log = new Logger(config.logLevel, { instance_id: config.instanceId, epoch: config.epoch });
  process.on("unhandledRejection", (reason) => {
    // Baileys rejects promises nobody awaits when a socket dies mid-query; that must not kill the worker.
    log.warning("unhandled rejection", { error: String(reason) });
  });
  process.on("uncaughtException", (error) => {
    log.error("uncaught exception", { error: String(error), stack: error.stack });
  });
  let unlock: () => void;
  try {
    unlock = await lockDirectory(config.dataDir, DATA_DIR_LOCK_SECONDS * 1000, log);
  } catch (error) {
    log.error("DATA_DIR is in use by another worker", { data_dir: config.dataDir, error: String(error) });
    return EXIT_FAILED;
  }
  try {
    return await new Worker(config, log).run();
  } finally {
    unlock();
  }
}

// Not a natural exit: Baileys' timers and sockets would keep the process alive, and the protocol bounds how long
// stopping may take. Everything that must survive is already fsync'ed or in the state store.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fatal: ${String(error)}\n`);
    process.exit(EXIT_FAILED);
  },
);
