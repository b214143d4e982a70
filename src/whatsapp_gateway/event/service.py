"""Events: ingestion from workers (de-duplicated, in order, with their effects) and the customer-facing list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.event.models import Event
from whatsapp_gateway.event.repository import EventRepository
from whatsapp_gateway.event.schemas import IngestResult, WorkerEvent
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.message import service as message_service
from whatsapp_gateway.provider.auth import WorkerCaller

# Events about the worker itself, used by the control plane and never shown to customers.
INTERNAL_TYPE_PREFIX = "worker."


# Two deliveries of the same batch can race (a worker retrying while its first try is still being written); the
# loser sees a unique-key violation, and a second pass finds the winner's rows and counts them as duplicates.
INGEST_ATTEMPTS = 3


async def ingest_and_commit(session: AsyncSession, worker: WorkerCaller, events: Sequence[WorkerEvent]) -> IngestResult:
    for attempt in range(INGEST_ATTEMPTS):
        try:
            result = await ingest(session, worker, events)
            await session.commit()
            return result
        except IntegrityError:
            await session.rollback()
            if attempt == INGEST_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def ingest(session: AsyncSession, worker: WorkerCaller, events: Sequence[WorkerEvent]) -> IngestResult:
    """Record a batch of a worker's events, skipping ids already recorded, and apply what they mean.

    The event rows and their effects (an instance's connection state, a message's status) are written in the
    caller's one transaction, so a crash either keeps both or neither, and the worker's retry redoes both.
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
    return IngestResult(accepted=len(fresh), duplicates=len(events) - len(fresh))


def _public_data(instance_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Worker-relative media links become API paths customers can fetch (`GET /api/instances/{id}/media/{mid}`)."""
    media = data.get("media")
    if isinstance(media, dict) and isinstance(media.get("download"), str):
        media_id = media["download"].rsplit("/", 1)[-1]
        if media["download"] == f"/v1/media/{media_id}":
            return {**data, "media": {**media, "download": f"/api/instances/{instance_id}/media/{media_id}"}}
    return data


async def list_page(
    session: AsyncSession,
    principal: Principal,
    instance_reference: str,
    *,
    types: Sequence[str],
    after_seq: int | None,
    limit: int,
) -> Sequence[Event]:
    instance = await instance_service.get(session, principal, instance_reference)
    return await EventRepository(session).list_page(
        instance.id, types=types, after_seq=after_seq, limit=limit, internal_prefix=INTERNAL_TYPE_PREFIX
    )
