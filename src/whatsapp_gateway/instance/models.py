from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, utcnow
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


def _string_enum(enum_class: type[enum.StrEnum]) -> Enum:
    # Stored as plain strings without a CHECK constraint, so that adding a value never needs a table rebuild on
    # SQLite; the API validates values on the way in.
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


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
    provider: Mapped[Provider] = mapped_column(_string_enum(Provider))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[InstanceStatus] = mapped_column(_string_enum(InstanceStatus), default=InstanceStatus.creating)
    connection_state: Mapped[ConnectionState | None] = mapped_column(_string_enum(ConnectionState))
    desired_state: Mapped[DesiredState] = mapped_column(_string_enum(DesiredState), default=DesiredState.running)
    node: Mapped[str | None] = mapped_column(String(100))
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
    cpu_limit: Mapped[str] = mapped_column(String(LIMIT_LENGTH), default=DEFAULT_CPU)
    memory_limit: Mapped[str] = mapped_column(String(LIMIT_LENGTH), default=DEFAULT_MEMORY)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
