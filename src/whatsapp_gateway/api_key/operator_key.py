"""The operator's key: `API_SECRET`, or in development one generated once and kept in DATA_DIR."""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp_gateway.api_key.secrets import new_operator_key
from whatsapp_gateway.config import Environment, Settings
from whatsapp_gateway.secret_files import read_or_create

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
    key, generated_now = read_or_create(path, new_operator_key)
    return OperatorKey(key, str(path), generated_now=generated_now)
