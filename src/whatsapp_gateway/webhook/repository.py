from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from whatsapp_gateway.event.models import Event
from whatsapp_gateway.instance.models import Instance
from whatsapp_gateway.webhook.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookQueue,
)


class PendingDelivery(NamedTuple):
    id: int
    deadline_at: dt.datetime
    event_id: str
    type: str
    instance_id: str | None
    timestamp: dt.datetime
    data: dict[str, Any]


def _rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- endpoints ---------------------------------------------------------------------------------

    async def add(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self.session.add(endpoint)
        await self.session.flush()
        return endpoint

    async def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        return await self.session.get(WebhookEndpoint, endpoint_id)

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)
        await self.session.flush()

    async def instance_webhook(self, instance_id: str) -> WebhookEndpoint | None:
        return await self.session.scalar(
            select(WebhookEndpoint).where(
                WebhookEndpoint.instance_id == instance_id, WebhookEndpoint.instance_webhook.is_(True)
            )
        )

    async def list_page(
        self, *, tenant_id: str | None, instance_id: str | None, limit: int, after_id: str | None
    ) -> Sequence[WebhookEndpoint]:
        statement = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit)
        if tenant_id is not None:
            statement = statement.where(WebhookEndpoint.tenant_id == tenant_id)
        if instance_id is not None:
            statement = statement.where(WebhookEndpoint.instance_id == instance_id)
        if after_id is not None:
            statement = statement.where(WebhookEndpoint.id > after_id)
        return (await self.session.scalars(statement)).all()

    async def receiving(self, tenant_id: str, instance_id: str | None) -> Sequence[WebhookEndpoint]:
        """The enabled endpoints that receive events of this instance (None: events of the tenant itself)."""
        scope: ColumnElement[bool] = WebhookEndpoint.instance_id.is_(None)
        if instance_id is not None:
            scope = or_(scope, WebhookEndpoint.instance_id == instance_id)
        return (
            await self.session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True), scope
                )
            )
        ).all()

    # -- the outbox ----------------------------------------------------------------------------------

    async def enqueue(
        self, endpoint_id: str, queue_key: str, instance_id: str | None, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Add deliveries to the end of a queue and count them there, in the caller's transaction."""
        # One multi-row INSERT, not one ORM object per delivery: this runs for every batch a worker reports.
        await self.session.execute(
            insert(WebhookDelivery),
            [
                {
                    "endpoint_id": endpoint_id,
                    "queue_key": queue_key,
                    "status": DeliveryStatus.pending,
                    "attempts": 0,
                    **row,
                }
                for row in rows
            ],
        )
        dialect = self.session.get_bind().dialect.name
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = upsert(WebhookQueue).values(
            endpoint_id=endpoint_id,
            queue_key=queue_key,
            instance_id=instance_id,
            pending=len(rows),
            failures=0,
            next_attempt_at=rows[0]["created_at"],
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[WebhookQueue.endpoint_id, WebhookQueue.queue_key],
                set_={"pending": WebhookQueue.pending + len(rows)},
            )
        )

    async def claim_due_queues(
        self, holder: str, *, now: dt.datetime, lease_until: dt.datetime, limit: int, skip: Sequence[int]
    ) -> Sequence[WebhookQueue]:
        """Lease up to `limit` queues that have deliveries due, of enabled endpoints, that no one else holds.

        The lease conditions are repeated in the UPDATE's own WHERE: on PostgreSQL a replica that waited for another's
        row lock re-checks them against the row as the other left it, so a queue is never leased twice.
        """
        free = or_(WebhookQueue.lease_until.is_(None), WebhookQueue.lease_until < now)
        due = (
            select(WebhookQueue.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookQueue.endpoint_id)
            .where(
                WebhookEndpoint.enabled.is_(True),
                WebhookQueue.pending > 0,
                WebhookQueue.next_attempt_at <= now,
                free,
            )
            .order_by(WebhookQueue.next_attempt_at)
            .limit(limit)
        )
        if skip:
            due = due.where(WebhookQueue.id.not_in(skip))
        ids = list(await self.session.scalars(due))
        if not ids:
            return []
        result = await self.session.scalars(
            update(WebhookQueue)
            .where(WebhookQueue.id.in_(ids), WebhookQueue.pending > 0, free)
            .values(lease_holder=holder, lease_until=lease_until)
            .returning(WebhookQueue)
        )
        return result.all()

    async def release_queue(self, queue_id: int, holder: str) -> None:
        await self.session.execute(
            update(WebhookQueue)
            .where(WebhookQueue.id == queue_id, WebhookQueue.lease_holder == holder)
            .values(lease_holder=None, lease_until=None)
        )

    async def release_all(self, holder: str) -> None:
        """Leases a previous run of this same replica held: it is gone, so they are free now."""
        await self.session.execute(
            update(WebhookQueue).where(WebhookQueue.lease_holder == holder).values(lease_holder=None, lease_until=None)
        )

    async def queue(self, queue_id: int) -> WebhookQueue | None:
        return await self.session.get(WebhookQueue, queue_id, populate_existing=True)

    async def head_of_queue(self, endpoint_id: str, queue_key: str, limit: int) -> Sequence[PendingDelivery]:
        """The queue's oldest pending deliveries with their events, as plain rows (no ORM objects: the hot path)."""
        rows = await self.session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.deadline_at,
                Event.event_id,
                Event.type,
                Event.instance_id,
                Event.timestamp,
                Event.data,
            )
            .join(Event, Event.seq == WebhookDelivery.event_seq)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.queue_key == queue_key,
                WebhookDelivery.status == DeliveryStatus.pending,
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
        return [PendingDelivery(*row) for row in rows]

    async def release_empty_queue(self, queue_id: int, holder: str) -> None:
        """Give up a queue found empty. If its count says otherwise (it should not), recount under the row's lock."""
        counted = await self.session.scalar(
            update(WebhookQueue)
            .where(WebhookQueue.id == queue_id, WebhookQueue.lease_holder == holder)
            .values(lease_holder=None, lease_until=None)
            .returning(WebhookQueue.pending)
        )
        if counted:
            queue = await self.session.scalar(select(WebhookQueue).where(WebhookQueue.id == queue_id).with_for_update())
            if queue is not None:
                queue.pending = await self.count_pending(queue.endpoint_id, queue.queue_key)
                await self.session.flush()

    async def settle_queue(self, queue_id: int, holder: str, *, done: int, lease_until: dt.datetime) -> bool:
        """Count `done` deliveries off the queue, clear its failures and renew the lease; whether it is still ours."""
        holding = await self.session.scalar(
            update(WebhookQueue)
            .where(WebhookQueue.id == queue_id)
            .values(
                pending=WebhookQueue.pending - done,
                failures=0,
                lease_until=case((WebhookQueue.lease_holder == holder, lease_until), else_=WebhookQueue.lease_until),
            )
            .returning(WebhookQueue.lease_holder)
        )
        return holding == holder

    async def clear_failing(self, endpoint_id: str) -> None:
        await self.session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(failing_since=None)
        )

    async def count_pending(self, endpoint_id: str, queue_key: str) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.queue_key == queue_key,
                    WebhookDelivery.status == DeliveryStatus.pending,
                )
            )
            or 0
        )

    async def mark_succeeded(self, outcomes: Sequence[tuple[int, int, int]], *, now: dt.datetime) -> int:
        """(delivery id, status code, latency ms) of deliveries the receiver took; how many were still pending."""
        ids = [delivery_id for delivery_id, _, _ in outcomes]
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == DeliveryStatus.pending)
            .values(
                status=DeliveryStatus.succeeded,
                attempts=WebhookDelivery.attempts + 1,
                last_attempt_at=now,
                delivered_at=now,
                last_error=None,
                last_status_code=case({i: code for i, code, _ in outcomes}, value=WebhookDelivery.id),
                last_latency_ms=case({i: ms for i, _, ms in outcomes}, value=WebhookDelivery.id),
            )
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result)

    async def mark_attempt_failed(
        self,
        delivery_id: int,
        *,
        now: dt.datetime,
        status_code: int | None,
        error: str,
        latency_ms: int,
        next_attempt_at: dt.datetime,
    ) -> None:
        await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(
                attempts=WebhookDelivery.attempts + 1,
                last_attempt_at=now,
                last_status_code=status_code,
                last_error=error[:300],
                last_latency_ms=latency_ms,
                next_attempt_at=next_attempt_at,
            )
            .execution_options(synchronize_session=False)
        )

    async def dead_letter_expired(self, endpoint_id: str, queue_key: str, *, now: dt.datetime, reason: str) -> int:
        """Dead-letter the queue's pending deliveries whose deadline has passed; how many."""
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.queue_key == queue_key,
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookDelivery.deadline_at <= now,
            )
            .values(status=DeliveryStatus.failed, last_error=reason[:300])
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result)

    async def update_queue(self, queue_id: int, **values: Any) -> None:
        await self.session.execute(update(WebhookQueue).where(WebhookQueue.id == queue_id).values(**values))

    # -- the delivery log ------------------------------------------------------------------------------

    async def deliveries_page(
        self, endpoint_id: str, *, status: DeliveryStatus | None, limit: int, after_id: int | None
    ) -> Sequence[tuple[WebhookDelivery, Event]]:
        """Newest first: the log is read to see what just happened."""
        statement = (
            select(WebhookDelivery, Event)
            .join(Event, Event.seq == WebhookDelivery.event_seq)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
        if status is not None:
            statement = statement.where(WebhookDelivery.status == status)
        if after_id is not None:
            statement = statement.where(WebhookDelivery.id < after_id)
        return [(d, e) for d, e in await self.session.execute(statement)]

    async def delivery(self, endpoint_id: str, delivery_id: int) -> tuple[WebhookDelivery, Event] | None:
        row = (
            await self.session.execute(
                select(WebhookDelivery, Event)
                .join(Event, Event.seq == WebhookDelivery.event_seq)
                .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.id == delivery_id)
                # Fresh values: a replay may have just changed the row behind the session's back (a bulk UPDATE).
                .execution_options(populate_existing=True)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def delivery_of_event(self, endpoint_id: str, event_seq: int) -> tuple[WebhookDelivery, Event] | None:
        row = (
            await self.session.execute(
                select(WebhookDelivery, Event)
                .join(Event, Event.seq == WebhookDelivery.event_seq)
                .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.event_seq == event_seq)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def requeue(
        self,
        endpoint_id: str,
        *,
        ids: Sequence[int] | None = None,
        failed_between: tuple[dt.datetime, dt.datetime] | None = None,
        now: dt.datetime,
        deadline_at: dt.datetime,
    ) -> int:
        """Make finished deliveries pending again, at their old place in their queues; how many."""
        conditions = [WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status != DeliveryStatus.pending]
        if ids is not None:
            conditions.append(WebhookDelivery.id.in_(ids))
        if failed_between is not None:
            since, until = failed_between
            conditions += [
                WebhookDelivery.status == DeliveryStatus.failed,
                WebhookDelivery.created_at >= since,
                WebhookDelivery.created_at < until,
            ]
        grouped = await self.session.execute(
            select(WebhookDelivery.queue_key, func.count()).where(*conditions).group_by(WebhookDelivery.queue_key)
        )
        counts = [(queue_key, int(count)) for queue_key, count in grouped]
        if not counts:
            return 0
        await self.session.execute(
            update(WebhookDelivery)
            .where(*conditions)
            .values(status=DeliveryStatus.pending, deadline_at=deadline_at, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        for queue_key, count in counts:
            # A queue waiting out a failure's backoff is tried again now: a replay is someone asking for it.
            await self.session.execute(
                update(WebhookQueue)
                .where(WebhookQueue.endpoint_id == endpoint_id, WebhookQueue.queue_key == queue_key)
                .values(pending=WebhookQueue.pending + count, next_attempt_at=now, failures=0)
            )
        return sum(count for _, count in counts)

    # -- retention -------------------------------------------------------------------------------------

    async def prune_deliveries(self, before: dt.datetime, limit: int) -> int:
        old = (
            select(WebhookDelivery.id)
            .where(WebhookDelivery.created_at < before, WebhookDelivery.status != DeliveryStatus.pending)
            .limit(limit)
        )
        result = await self.session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.id.in_(old)).execution_options(synchronize_session=False)
        )
        return _rowcount(result)

    async def prune_events(self, before: dt.datetime, limit: int) -> int:
        """Old events, but never one a pending delivery still has to carry."""
        still_needed = exists().where(
            and_(WebhookDelivery.event_seq == Event.seq, WebhookDelivery.status == DeliveryStatus.pending)
        )
        old = select(Event.seq).where(Event.received_at < before, ~still_needed).limit(limit)
        result = await self.session.execute(
            delete(Event).where(Event.seq.in_(old)).execution_options(synchronize_session=False)
        )
        return _rowcount(result)

    # -- the instance's own webhook --------------------------------------------------------------------

    async def mirror_instance_webhook(self, instance_id: str, url: str | None) -> None:
        """`instances.webhook_url` repeats the URL of the instance's own endpoint (the original sketch's field, read
        with every instance); it is written only here, in the same transaction as the endpoint."""
        await self.session.execute(update(Instance).where(Instance.id == instance_id).values(webhook_url=url))
        loaded = self.session.identity_map.get(self.session.identity_key(Instance, instance_id))
        if loaded is not None:  # the copy the caller holds shows the new URL too
            set_committed_value(loaded, "webhook_url", url)
