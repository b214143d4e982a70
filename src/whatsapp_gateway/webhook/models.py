from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, utcnow
from whatsapp_gateway.event.models import Sequence
from whatsapp_gateway.ids import new_id

ENDPOINT_ID_PREFIX = "whe"
# The queue of events that belong to no instance (a test event, an endpoint disabled).
TENANT_QUEUE = ""


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # waiting for its first attempt or for a retry
    succeeded = "succeeded"  # the receiver answered 2xx
    failed = "failed"  # dead-lettered: out of retries, or its endpoint was disabled; a replay makes it pending again


class DisabledReason(enum.StrEnum):
    manual = "manual"  # PATCH {"enabled": false}
    gone = "gone"  # the receiver answered 410 Gone
    failing = "failing"  # every attempt failed for WEBHOOK_DISABLE_AFTER_DAYS
    needs_secret = "needs_secret"  # from before signing existed: rotate the secret to turn it on  # noqa: S105


class WebhookEndpoint(Base):
    """Where a tenant's events are posted: a tenant-wide endpoint, or an instance's own `webhook`."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id(ENDPOINT_ID_PREFIX))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # Set: only this instance's events. The instance's own webhook (the original sketch's `webhook` field) is such an
    # endpoint with `instance_webhook` set; the instance's `webhook_url` mirrors its URL.
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    instance_webhook: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every type
    headers_sealed: Mapped[str | None] = mapped_column(Text)  # custom headers often carry credentials
    secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookQueue(Base):
    """The deliveries of one endpoint for one instance, sent strictly in order.

    `pending` counts the queue's pending deliveries; it changes in the same transaction as they do, so the
    dispatcher finds work by reading this small table instead of scanning deliveries. A dispatcher holds a queue
    through a lease (`lease_holder`, `lease_until`): one sender per queue, across replicas.
    """

    __tablename__ = "webhook_queues"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "queue_key"),
        Index("ix_webhook_queues_due", "pending", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Sequence, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    queue_key: Mapped[str] = mapped_column(String(32))  # the instance id, or TENANT_QUEUE
    # Deleting an instance deletes its events and their deliveries, and with them its queues and their counts.
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # attempts failed in a row
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row, then the delivery log's entry."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_queue", "endpoint_id", "queue_key", "status", "id"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_created", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Sequence, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    queue_key: Mapped[str] = mapped_column(String(32))
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # After this, a failed attempt dead-letters the delivery (created_at + the retry schedule; reset by a replay).
    deadline_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
