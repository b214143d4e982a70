"""Events: ingestion from workers (de-duplicated, in order, with their effects) and the customer-facing list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.event.models import Event, EventScope
from whatsapp_gateway.event.repository import EventRepository
from whatsapp_gateway.event.schemas import IngestResult, WorkerEvent
from whatsapp_gateway.ids import new_id
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.message import service as message_service
from whatsapp_gateway.notify import Wakeups, instance_events_key, tenant_events_key
from whatsapp_gateway.provider.auth import WorkerCaller
from whatsapp_gateway.tenant import service as tenant_service
from whatsapp_gateway.webhook import service as webhook_service
from whatsapp_gateway.webhook.models import WebhookEndpoint
from whatsapp_gateway.webhook.service import RetryPolicy

# Events about the worker itself, used by the control plane and never shown to customers.
INTERNAL_TYPE_PREFIX = "worker."
ALL_EVENTS_KEY = "events:all"
EVENT_ID_PREFIX = "evt"
FOLLOW_BATCH = 200
# A live stream looks at the database at least this often (another replica's events cannot wake it).
FOLLOW_RECHECK_SECONDS = 1.0


# Two deliveries of the same batch can race (a worker retrying while its first try is still being written); the
# loser sees a unique-key violation, and a second pass finds the winner's rows and counts them as duplicates.
INGEST_ATTEMPTS = 3


async def ingest_and_commit(
    session: AsyncSession, worker: WorkerCaller, events: Sequence[WorkerEvent], policy: RetryPolicy
) -> IngestResult:
    for attempt in range(INGEST_ATTEMPTS):
        try:
            result = await ingest(session, worker, events, policy)
            await session.commit()
            return result
        except IntegrityError:
            await session.rollback()
            if attempt == INGEST_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def ingest(
    session: AsyncSession, worker: WorkerCaller, events: Sequence[WorkerEvent], policy: RetryPolicy
) -> IngestResult:
    """Record a batch of a worker's events, skipping ids already recorded, and apply what they mean.

    The event rows, their effects (an instance's connection state, a message's status) and their webhook deliveries
    are written in the caller's one transaction, so a crash either keeps all or none, and the worker's retry redoes
    them.
    """
    repository = EventRepository(session)
    known = await repository.existing_ids(worker.instance_id, (e.id for e in events))
    instance = await instance_service.get_for_worker(session, worker.instance_id)
    assert instance is not None  # the caller was authenticated against it in this request
    fresh: list[Event] = []
    for event in events:
        if event.id in known:
            continue
        known.add(event.id)
        data = _public_data(worker.instance_id, event.data)
        await instance_service.apply_worker_event(session, instance, event.type, data)
        if event.type == "message.status":
            await message_service.apply_status_event(session, worker.instance_id, data, event.timestamp)
        fresh.append(
            Event(
                event_id=event.id,
                instance_id=worker.instance_id,
                tenant_id=worker.tenant_id,
                type=event.type,
                timestamp=event.timestamp,
                data=data,
                epoch=worker.epoch,
            )
        )
    await repository.add_all(fresh)
    await webhook_service.enqueue(
        session,
        policy,
        tenant_id=worker.tenant_id,
        instance_id=worker.instance_id,
        events=[e for e in fresh if not e.type.startswith(INTERNAL_TYPE_PREFIX)],
    )
    return IngestResult(accepted=len(fresh), duplicates=len(events) - len(fresh))


async def record(
    session: AsyncSession,
    policy: RetryPolicy,
    *,
    tenant_id: str,
    instance_id: str | None,
    type: str,
    data: dict[str, Any],
    only_endpoint: WebhookEndpoint | None = None,
) -> Event:
    """Record an event the control plane itself raises (an endpoint disabled, a test event), with its deliveries."""
    now = utcnow()
    event = Event(
        event_id=new_id(EVENT_ID_PREFIX),
        instance_id=instance_id,
        tenant_id=tenant_id,
        type=type,
        timestamp=now,
        data=data,
        epoch=0,
        received_at=now,
    )
    await EventRepository(session).add_all([event])
    await webhook_service.enqueue(
        session, policy, tenant_id=tenant_id, instance_id=instance_id, events=[event], only_endpoint=only_endpoint
    )
    return event


def _public_data(instance_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Worker-relative media links become API paths customers can fetch (`GET /api/instances/{id}/media/{mid}`)."""
    media = data.get("media")
    if isinstance(media, dict) and isinstance(media.get("download"), str):
        media_id = media["download"].rsplit("/", 1)[-1]
        if media["download"] == f"/v1/media/{media_id}":
            return {**data, "media": {**media, "download": f"/api/instances/{instance_id}/media/{media_id}"}}
    return data


async def instance_scope(session: AsyncSession, principal: Principal, instance_reference: str) -> EventScope:
    instance = await instance_service.get(session, principal, instance_reference)
    return EventScope(instance_id=instance.id)


async def tenant_scope(session: AsyncSession, principal: Principal, tenant_id: str | None) -> EventScope:
    """A tenant key sees its tenant's events; the operator everyone's, or one tenant's with `tenant_id`."""
    if tenant_id is not None:
        return EventScope(tenant_id=(await tenant_service.get(session, principal, tenant_id)).id)
    return EventScope(tenant_id=principal.tenant_id)


async def list_page(
    session: AsyncSession, scope: EventScope, *, types: Sequence[str], after_seq: int | None, limit: int
) -> Sequence[Event]:
    return await EventRepository(session).list_page(
        scope, types=types, after_seq=after_seq, limit=limit, internal_prefix=INTERNAL_TYPE_PREFIX
    )


def wake_keys(scope: EventScope) -> list[str]:
    if scope.instance_id is not None:
        return [instance_events_key(scope.instance_id)]
    if scope.tenant_id is not None:
        return [tenant_events_key(scope.tenant_id)]
    return [ALL_EVENTS_KEY]


def wake_keys_of_batch(worker: WorkerCaller) -> list[str]:
    return wake_keys_of_event(worker.tenant_id, worker.instance_id)


def wake_keys_of_event(tenant_id: str, instance_id: str | None) -> list[str]:
    """Who may be waiting for a new event of this tenant or instance: live streams and webhook dispatchers."""
    keys = [tenant_events_key(tenant_id), ALL_EVENTS_KEY, webhook_service.WAKE_KEY]
    if instance_id is not None:
        keys.append(instance_events_key(instance_id))
    return keys


async def follow(
    sessionmaker: async_sessionmaker[AsyncSession],
    wakeups: Wakeups,
    scope: EventScope,
    *,
    types: Sequence[str],
    after_seq: int | None,
) -> AsyncIterator[Event | None]:
    """Events of `scope` after `after_seq` (from now on when None), as they arrive; `None` when idle for a while.

    Each look at the database is a short transaction of its own: a stream may stay open for hours, and must not hold a
    connection (on SQLite, the only one) while it waits.
    """
    async with sessionmaker() as session:
        last = after_seq if after_seq is not None else await EventRepository(session).last_seq(scope)
    while not wakeups.closing:
        async with sessionmaker() as session:
            events = await list_page(session, scope, types=types, after_seq=last, limit=FOLLOW_BATCH)
        for event in events:
            last = event.seq
            yield event
        if len(events) < FOLLOW_BATCH:
            yield None
            await wakeups.wait(wake_keys(scope), FOLLOW_RECHECK_SECONDS)
