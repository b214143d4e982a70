"""The operator's key: `API_SECRET`, or in development one generated once and kept in DATA_DIR."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from whatsapp_gateway.api_key.secrets import new_operator_key
from whatsapp_gateway.config import Environment, Settings

OPERATOR_KEY_FILE = "operator-key"


@dataclass(frozen=True)
class OperatorKey:
    key: str
    source: str  # "API_SECRET", or the file it was read from or written to
    generated_now: bool


def load_operator_key(settings: Settings) -> OperatorKey:
    if settings.api_secret:
        return OperatorKey(settings.api_secret, "API_SECRET", generated_now=False)
    if settings.env is not Environment.development:  # Settings already refuses this; kept for clarity.
        raise RuntimeError("API_SECRET is required outside development")
    path = settings.data_dir / OPERATOR_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if key:
            return OperatorKey(key, str(path), generated_now=False)
    return OperatorKey(_write_new_key(path), str(path), generated_now=True)


def _write_new_key(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_operator_key()
    # Created with 0600 from the start: the key must never be readable by other users, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
