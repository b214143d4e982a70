"""All settings, read once from the environment (and an optional `.env` file).

The settings are one flat class on purpose: the environment names (`DATABASE_URL`, `API_SECRET`, `PORT`, …) come
from the original sketch and from operators' habits, and a flat class maps each name to exactly one field. Fields
are grouped by the comments below instead.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(enum.StrEnum):
    development = "development"
    production = "production"


class LogFormat(enum.StrEnum):
    json = "json"
    console = "console"


MIN_PRODUCTION_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # -- where and how it runs --------------------------------------------------------------------
    env: Environment = Field(
        Environment.development,
        description="`development` generates missing secrets; `production` refuses to start without them.",
    )
    host: str = Field("0.0.0.0", description="Address the HTTP server binds to.")  # noqa: S104 - a server
    port: Annotated[int, Field(ge=1, le=65535)] = Field(3000, description="Port of the HTTP API.")
    data_dir: Path = Field(
        Path("./data"),
        description="Directory for the embedded database, the generated operator key and worker data.",
    )

    # -- storage ---------------------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the database. Unset: SQLite in DATA_DIR (the embedded default). "
            "`postgresql://user:pass@host/db` selects PostgreSQL (driven by asyncpg)."
        ),
    )
    database_pool_size: Annotated[int, Field(ge=1, le=200)] = Field(
        10, description="Connections kept open to PostgreSQL per process (SQLite always uses one)."
    )
    migrate_on_start: bool = Field(True, description="Apply pending database migrations when the server starts.")

    # -- security ----------------------------------------------------------------------------------
    api_secret: str | None = Field(
        None,
        description=(
            "The operator's API key (admin routes and every tenant's resources). Required in production; "
            "in development a random one is generated and kept in DATA_DIR/operator-key."
        ),
    )
    secret_key: str | None = Field(
        None,
        description=(
            "Server secret that worker tokens are derived from and stored secrets are encrypted with. Required in "
            "production (at least 32 characters); in development a random one is generated into DATA_DIR/secret-key."
        ),
    )
    api_key_touch_interval_seconds: Annotated[int, Field(ge=0)] = Field(
        60,
        description="An API key's `last_used_at` is written at most this often, so reads do not turn into writes.",
    )

    # -- workers -----------------------------------------------------------------------------------
    internal_url: str | None = Field(
        None,
        description=(
            "Base URL workers use to reach this control plane (events, state store). Unset: "
            "`http://127.0.0.1:<PORT>`, right for the local runtime."
        ),
    )
    reconciler_enabled: bool = Field(
        True,
        description="Run the background loops (reconciler, outbound message retries). Turn off for API-only replicas.",
    )
    reconcile_interval_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        1.0, description="How often the reconciler compares wanted and actual workers (it also runs on every change)."
    )
    worker_stop_grace_seconds: Annotated[float, Field(ge=0, le=120)] = Field(
        15.0, description="How long a stopping worker gets to persist its state before it is killed."
    )
    restart_backoff_max_seconds: Annotated[float, Field(ge=1, le=3600)] = Field(
        60.0, description="Longest wait between two restarts of a worker that keeps crashing."
    )
    sandbox_qr_interval_seconds: Annotated[float, Field(ge=1, le=300)] = Field(
        20.0, description="How often a sandbox worker's QR code rotates (each one expires when the next is shown)."
    )
    media_max_bytes: Annotated[int, Field(ge=1024)] = Field(
        16 * 1024 * 1024, description="Largest image, video, audio or sticker a message may carry."
    )
    document_max_bytes: Annotated[int, Field(ge=1024)] = Field(
        100 * 1024 * 1024, description="Largest document a message may carry."
    )

    # -- runtime and nodes ---------------------------------------------------------------------------
    runtime: Literal["local", "docker"] = Field(
        "local",
        description=(
            "How workers run: `local` child processes on this host, or `docker`: one container per instance on the "
            "Docker engines registered as nodes (docs/runtimes.md)."
        ),
    )
    docker_host: str = Field(
        "unix:///var/run/docker.sock",
        description="With RUNTIME=docker, the engine registered as node `default` when no node exists yet.",
    )
    docker_network: str | None = Field(
        None,
        description=(
            "With RUNTIME=docker, the Docker network node `default` puts workers on (compose: the gateway's own "
            "network, with INTERNAL_URL naming the gateway's service). Unset: the engine's default bridge."
        ),
    )
    docker_cluster: str = Field(
        "wagw",
        pattern=r"^[a-z0-9][a-z0-9-]{0,30}$",
        description=(
            "Names this installation's containers and volumes (`wagw-<cluster>-…`) and labels them, so that two "
            "installations can share an engine without touching each other's workers."
        ),
    )
    worker_image: str = Field(
        "wagw/{provider}-worker:dev",
        description="Image of a provider's worker container; `{provider}` is replaced by the provider's name.",
    )
    worker_pids_limit: Annotated[int, Field(ge=16, le=65536)] = Field(
        512, description="Most processes and threads one worker container may have (a browser needs hundreds)."
    )
    node_health_interval_seconds: Annotated[float, Field(gt=0, le=300)] = Field(
        5.0, description="How often each node's engine is checked."
    )
    node_lost_after_seconds: Annotated[float, Field(ge=5, le=86400)] = Field(
        60.0,
        description=(
            "A node unreachable this long is lost: its instances start on other nodes. Their old workers, if they "
            "still run, are fenced at their next call to the control plane."
        ),
    )

    # -- webhooks and events ------------------------------------------------------------------------
    webhook_allow_private_targets: bool = Field(
        False,
        description=(
            "Allow webhook URLs that resolve to loopback, private or link-local addresses. Off by default: a tenant "
            "could otherwise make the gateway call services inside the operator's network."
        ),
    )
    webhook_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = Field(
        10.0, description="How long one delivery attempt may take (connect, send, answer) before it counts as failed."
    )
    webhook_retry_schedule: str = Field(
        "5,30,120,600,1800,7200,21600,43200",
        description=(
            "Seconds to wait before each retry, comma-separated (each varied by ±20%). A delivery still failing "
            "when the schedule's total has passed since it was created is dead-lettered: about 20.7 hours by default."
        ),
        pattern=r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$",
    )
    webhook_concurrency: Annotated[int, Field(ge=1, le=1000)] = Field(
        64, description="Queues (one per endpoint and instance) one control plane delivers to at the same time."
    )
    webhook_disable_after_days: Annotated[float, Field(gt=0, le=365)] = Field(
        5.0,
        description=(
            "An endpoint whose every attempt failed for this long is disabled (with a `webhook.endpoint_disabled` "
            "event)."
        ),
    )
    event_retention_days: Annotated[float, Field(gt=0)] = Field(
        30.0, description="Events older than this are deleted (unless a delivery of theirs is still pending)."
    )
    delivery_retention_days: Annotated[float, Field(gt=0)] = Field(
        30.0, description="Finished webhook deliveries (succeeded or dead-lettered) older than this are deleted."
    )

    # -- logging -----------------------------------------------------------------------------------
    log_level: str = Field("INFO", description="Minimum level of log records: DEBUG, INFO, WARNING, ERROR.")
    log_format: LogFormat = Field(LogFormat.json, description="`json` (one object a line) or `console`.")

    # -- waba (WhatsApp Cloud API) -------------------------------------------------------------------
    waba_graph_url: str = Field(
        "https://graph.facebook.com",
        description="Base URL of Meta's Graph API; tests and staging point it at a fake.",
        pattern=r"^https?://[^\s]+$",
    )
    waba_api_version: str = Field(
        "v26.0",
        description="Graph API version used when an instance's config names none.",
        pattern=r"^v\d{1,3}\.\d{1,2}$",
    )
    waba_rate_limit_per_second: Annotated[float, Field(gt=0, le=10000)] = Field(
        80.0, description="Messages per second sent to Meta per business number (Meta's default throughput)."
    )
    waba_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = Field(
        20.0, description="How long one call to the Graph API may take."
    )

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.env is Environment.production:
            if not self.api_secret:
                raise ValueError("API_SECRET is required when ENV=production")
            if len(self.api_secret) < MIN_PRODUCTION_SECRET_LENGTH:
                raise ValueError(
                    f"API_SECRET must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters when ENV=production"
                )
            if not self.secret_key or len(self.secret_key) < MIN_PRODUCTION_SECRET_LENGTH:
                raise ValueError(
                    f"SECRET_KEY of at least {MIN_PRODUCTION_SECRET_LENGTH} characters is required when ENV=production"
                )
        return self

    def resolved_internal_url(self, port: int | None = None) -> str:
        return (self.internal_url or f"http://127.0.0.1:{port or self.port}").rstrip("/")

    @property
    def webhook_retry_delays(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_schedule.split(",")]

    @property
    def resolved_database_url(self) -> str:
        return normalize_database_url(self.database_url or f"sqlite:///{self.data_dir.resolve() / 'gateway.db'}")


def normalize_database_url(url: str) -> str:
    """Accept the URLs operators write and pick the async driver for them."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
