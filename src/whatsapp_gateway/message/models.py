from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, utcnow
from whatsapp_gateway.ids import new_id

MESSAGE_ID_PREFIX = "msg"


class MessageStatus(enum.StrEnum):
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    read = "read"
    played = "played"
    failed = "failed"


# A status only moves forward: a late `delivered` receipt never undoes `read`.
STATUS_RANK = {
    MessageStatus.queued: 0,
    MessageStatus.sent: 1,
    MessageStatus.delivered: 2,
    MessageStatus.read: 3,
    MessageStatus.played: 4,
    MessageStatus.failed: 5,
}


class Message(Base):
    """An outbound message: recorded before the worker is called, so a crash never loses or doubles it."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("instance_id", "idempotency_key"),
        Index("ix_messages_status_created_at", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id(MESSAGE_ID_PREFIX))
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # sha256 of the request, to tell a retry (same body) from a reuse of the key for another message.
    request_hash: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    # The send body for the worker; inline media is dropped from it once the worker has accepted the message.
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[MessageStatus] = mapped_column(
        Enum(MessageStatus, native_enum=False, create_constraint=False, length=16),
        default=MessageStatus.queued,
    )
    provider_message_id: Mapped[str | None] = mapped_column(String(128), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
