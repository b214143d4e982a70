"""Worker tokens: derived, never stored (docs/worker-protocol.md §2).

`token = HMAC-SHA256(SECRET_KEY, "worker-token:<instance id>:<epoch>")`. Deriving instead of storing lets the
control plane verify a worker's calls *and* call the worker with nothing secret in the database, and makes a token
worthless as soon as its epoch is superseded.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from pathlib import Path

from whatsapp_gateway.config import Environment, Settings
from whatsapp_gateway.secret_files import read_or_create

SECRET_KEY_FILE = "secret-key"  # noqa: S105 - a file name, not a secret


def load_secret_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    if settings.env is not Environment.development:  # Settings already refuses this; kept for clarity.
        raise RuntimeError("SECRET_KEY is required outside development")
    value, _ = read_or_create(Path(settings.data_dir) / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48))
    return value.encode()


@functools.lru_cache(maxsize=4096)
def worker_token(secret_key: bytes, instance_id: str, epoch: int) -> str:
    # Cached: every internal call checks one, and every call to a worker makes one.
    digest = hmac.new(secret_key, f"worker-token:{instance_id}:{epoch}".encode(), hashlib.sha256).hexdigest()
    return f"wkt_{digest}"


def token_matches(secret_key: bytes, instance_id: str, epoch: int, presented: str) -> bool:
    return hmac.compare_digest(worker_token(secret_key, instance_id, epoch), presented)
