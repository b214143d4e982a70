from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, utcnow

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
Sequence = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    """A normalized event reported by a worker, kept in arrival order (`seq`)."""

    __tablename__ = "events"
    # The worker's event id is unique per instance: a worker re-sends a batch freely, and duplicates are dropped.
    # AUTOINCREMENT on SQLite: sequence numbers are cursors, and must never be reused after a delete.
    __table_args__ = (UniqueConstraint("instance_id", "event_id"), {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(Sequence, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80))
    # None for the few events about the tenant itself (a webhook endpoint disabled, a test event).
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    epoch: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


@dataclass(frozen=True)
class EventScope:
    """Whose events: one instance's, one tenant's, or (operator) everyone's."""

    instance_id: str | None = None
    tenant_id: str | None = None
