"""Structured logs: one JSON object a line on stdout, which the runtime keeps per instance."""

from __future__ import annotations

import datetime as dt
import json
import sys

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_RESERVED = ("ts", "level", "msg")


class Logger:
    def __init__(self, level: str = "info", **context: object) -> None:
        self._threshold = LEVELS.get(level.lower(), LEVELS["info"])
        self._context = context

    def _write(self, level: str, msg: str, fields: dict[str, object]) -> None:
        if LEVELS[level] < self._threshold:
            return
        record: dict[str, object] = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "msg": msg,
        }
        for key, value in (*self._context.items(), *fields.items()):
            if key not in _RESERVED:
                record[key] = value
        try:
            sys.stdout.write(json.dumps(record, default=str) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            # A closed or full stdout must never take the worker down with it.
            pass

    def debug(self, msg: str, **fields: object) -> None:
        self._write("debug", msg, fields)

    def info(self, msg: str, **fields: object) -> None:
        self._write("info", msg, fields)

    def warning(self, msg: str, **fields: object) -> None:
        self._write("warning", msg, fields)

    def error(self, msg: str, **fields: object) -> None:
        self._write("error", msg, fields)
