"""Secrets that development generates once and keeps in DATA_DIR (the operator key, the server secret)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """The secret kept in `path`, or a new one from `make` written there. Returns (secret, generated_now)."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value, False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    # Created with 0600 from the start: a secret must never be readable by other users, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value, True
