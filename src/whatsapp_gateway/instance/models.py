from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, string_enum, utcnow
from whatsapp_gateway.ids import new_id

INSTANCE_ID_PREFIX = "ins"


class Provider(enum.StrEnum):
    whatsmeow = "whatsmeow"
    baileys = "baileys"
    wawebjs = "wawebjs"
    waba = "waba"
    sandbox = "sandbox"


class InstanceStatus(enum.StrEnum):
    """The control plane's view of the instance's worker (the original sketch's list, plus `stopping`)."""

    creating = "creating"
    starting = "starting"
    running = "running"
    stopping = "stopping"
    stopped = "stopped"
    migrating = "migrating"
    error = "error"


class ConnectionState(enum.StrEnum):
    """The worker's view of its WhatsApp connection; one list for every provider."""

    starting = "starting"
    qr = "qr"
    pairing = "pairing"
    connecting = "connecting"
    connected = "connected"
    disconnected = "disconnected"
    logged_out = "logged_out"
    banned = "banned"
    failed = "failed"


class DesiredState(enum.StrEnum):
    running = "running"
    stopped = "stopped"


DEFAULT_CPU = "0.5"
DEFAULT_MEMORY = "512m"
LIMIT_LENGTH = 10


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (UniqueConstraint("tenant_id", "phone_number"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id(INSTANCE_ID_PREFIX))
    # No index of its own: the unique (tenant_id, phone_number) constraint serves lookups by tenant.
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(100))
    phone_number: Mapped[str] = mapped_column(String(15), index=True)
    provider: Mapped[Provider] = mapped_column(string_enum(Provider))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[InstanceStatus] = mapped_column(string_enum(InstanceStatus), default=InstanceStatus.creating)
    connection_state: Mapped[ConnectionState | None] = mapped_column(string_enum(ConnectionState))
    desired_state: Mapped[DesiredState] = mapped_column(string_enum(DesiredState), default=DesiredState.running)
    # The node the instance should run on (the docker runtime's node name; `local` for the local runtime). The
    # scheduler sets it when it is null; a migration changes it, and the reconciler moves the worker to follow.
    node: Mapped[str | None] = mapped_column(String(100))
    # Labels a node must carry to be chosen for this instance.
    node_selector: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # When the running migration was asked for; null when none runs.
    migration_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Incremented at every worker start; calls from a worker with an older epoch are refused (fencing).
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    # A restart asked for at this time: a worker started before it is replaced (kept in the database, so the request
    # reaches whichever replica reconciles, and survives a crash).
    restart_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # host:port the current worker announced in its `worker.ready` event; null while no worker serves.
    worker_address: Mapped[str | None] = mapped_column(String(255))
    # Why the instance is in its status or connection state (the last crash, a logout reason, …).
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The WhatsApp account the worker is logged in as: {phone, jid, lid, push_name}.
    account: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Provider settings given at creation (waba: phone-number id, access token, app secret), as one JSON object
    # sealed with crypto.SecretBox: the API never returns them.
    provider_config_sealed: Mapped[str | None] = mapped_column(Text)
    cpu_limit: Mapped[str] = mapped_column(String(LIMIT_LENGTH), default=DEFAULT_CPU)
    memory_limit: Mapped[str] = mapped_column(String(LIMIT_LENGTH), default=DEFAULT_MEMORY)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
