"""The start-up environment of docs/worker-protocol.md §1."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_QR_INTERVAL_SECONDS = 20.0


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    instance_id: str
    epoch: int
    token: str
    gateway_url: str
    listen_host: str
    listen_port: int
    data_dir: Path
    log_level: str
    qr_interval_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        missing = [
            name
            for name in ("INSTANCE_ID", "WORKER_EPOCH", "WORKER_TOKEN", "GATEWAY_URL", "DATA_DIR")
            if not env.get(name)
        ]
        if missing:
            raise ConfigError(f"missing environment: {', '.join(missing)}")
        try:
            epoch = int(env["WORKER_EPOCH"])
        except ValueError:
            raise ConfigError("WORKER_EPOCH is not an integer") from None
        if epoch < 1:
            raise ConfigError("WORKER_EPOCH must be positive")
        gateway_url = env["GATEWAY_URL"].rstrip("/")
        if not gateway_url.startswith(("http://", "https://")):
            raise ConfigError("GATEWAY_URL must be an http:// or https:// URL")
        host, port = parse_listen(env.get("LISTEN") or "127.0.0.1:0")
        return cls(
            instance_id=env["INSTANCE_ID"],
            epoch=epoch,
            token=env["WORKER_TOKEN"],
            gateway_url=gateway_url,
            listen_host=host,
            listen_port=port,
            data_dir=Path(env["DATA_DIR"]),
            log_level=(env.get("LOG_LEVEL") or "info").lower(),
            qr_interval_seconds=_qr_interval(env.get("PROVIDER_CONFIG") or "{}"),
        )


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"LISTEN must be host:port, not {value!r}")
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    return host, int(port_text)


def format_listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _qr_interval(raw: str) -> float:
    try:
        provider_config = json.loads(raw)
    except ValueError:
        raise ConfigError("PROVIDER_CONFIG is not JSON") from None
    if not isinstance(provider_config, dict):
        raise ConfigError("PROVIDER_CONFIG must be a JSON object")
    value = provider_config.get("qr_interval_seconds", DEFAULT_QR_INTERVAL_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError("PROVIDER_CONFIG.qr_interval_seconds must be a positive number")
    return float(value)
