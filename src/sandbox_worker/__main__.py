"""`wagw-sandbox-worker` / `python -m sandbox_worker`: configured entirely by the environment (protocol §1)."""

from __future__ import annotations

import asyncio
import os
import sys

from sandbox_worker.config import Config, ConfigError
from sandbox_worker.log import Logger
from sandbox_worker.spool import lock_directory
from sandbox_worker.worker import EXIT_FAILED, Worker

# EX_CONFIG: restarting with the same environment cannot help.
EXIT_CONFIG = 78
# How long to wait for a predecessor on the same DATA_DIR to finish exiting (its own limit is 15 s).
DATA_DIR_LOCK_SECONDS = 20.0


def main() -> None:
    try:
        config = Config.from_env()
    except ConfigError as exc:
        Logger().error("invalid configuration", error=str(exc))
        raise SystemExit(EXIT_CONFIG) from None
    log = Logger(config.log_level, instance_id=config.instance_id, epoch=config.epoch)
    try:
        lock_directory(config.data_dir, timeout=DATA_DIR_LOCK_SECONDS)
    except OSError as exc:
        log.error("DATA_DIR is in use by another worker", data_dir=str(config.data_dir), error=repr(exc))
        raise SystemExit(EXIT_FAILED) from None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        code = loop.run_until_complete(Worker(config, log).run())
    except KeyboardInterrupt:
        code = EXIT_FAILED
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: interpreter shutdown would join a media download still running in a thread, and the protocol
    # bounds how long stopping may take. Everything that must survive is already fsync'ed.
    os._exit(code)


if __name__ == "__main__":
    main()
