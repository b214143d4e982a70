"""The sandbox hub's own tables: the simulated WhatsApp servers' view of linked devices and queued traffic.

They are kept in the database, not in memory, so the simulated network survives a restart of the control plane just
as WhatsApp's servers outlive a client's connection.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, utcnow
from whatsapp_gateway.event.models import Sequence


class SandboxLink(Base):
    """A login offer shown by a worker: a QR reference or a pair code, until it is used, replaced or expires."""

    __tablename__ = "sandbox_links"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "qr" or "code"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SandboxDevice(Base):
    """The device linked to a sandbox number: what a worker's stored session must match."""

    __tablename__ = "sandbox_devices"

    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(15))
    device_id: Mapped[str] = mapped_column(String(40))
    secret_hash: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SandboxMailboxItem(Base):
    """Something the network holds for a worker until the worker acknowledges it (a message, a receipt, …)."""

    __tablename__ = "sandbox_mailbox"
    # AUTOINCREMENT on SQLite: workers acknowledge "everything up to seq", so a deleted seq must never come back.
    __table_args__ = (Index("ix_sandbox_mailbox_instance_id_seq", "instance_id", "seq"), {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(Sequence, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SandboxMessage(Base):
    """A message the network carried, kept so receipts find their way back to the sender."""

    __tablename__ = "sandbox_messages"

    provider_message_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    sender_instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    client_message_id: Mapped[str | None] = mapped_column(String(80))
    sender_phone: Mapped[str] = mapped_column(String(15))
    recipient_phone: Mapped[str] = mapped_column(String(15))
    recipient_instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
