from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.deps import SessionDep
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.event import service as event_service
from whatsapp_gateway.event.schemas import Event, IngestResult, WorkerEventBatch
from whatsapp_gateway.instance.endpoints import InstanceRef
from whatsapp_gateway.pagination import InvalidCursor, Page, PageParams, encode_cursor, page_params
from whatsapp_gateway.provider.auth import AuthenticatedWorker

router = APIRouter(prefix="/api", tags=["events"], responses=problem_responses(401, 404, 409, 422))
internal_router = APIRouter(
    prefix="/internal/v1/instances/{instance_id}",
    tags=["worker internal API"],
    responses=problem_responses(401, 409, 422),
)


@internal_router.post("/events", response_model=IngestResult)
async def ingest_events(batch: WorkerEventBatch, session: SessionDep, worker: AuthenticatedWorker) -> IngestResult:
    """Record a batch of a worker's events. Ids already recorded are skipped, so a worker retries freely."""
    return await event_service.ingest_and_commit(session, worker, batch.events)


class EventPage(Page[Event]):
    resume_cursor: str | None = Field(
        description="Where this page ends, also on the last page: pass it as `cursor` later to get only newer events."
    )


@router.get("/instances/{instance}/events", response_model=EventPage)
async def list_events(
    instance: InstanceRef,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    type: Annotated[
        list[str] | None, Query(max_length=20, description="Only events of these types (repeat the parameter).")
    ] = None,
) -> EventPage:
    """The instance's events, oldest first (newest last). Keep the last `next_cursor` to read only what is new."""
    after_seq: int | None = None
    if page.after_id is not None:
        if not page.after_id.isdigit():
            raise InvalidCursor("Use the `next_cursor` of a previous page, unchanged.")
        after_seq = int(page.after_id)
    events = await event_service.list_page(
        session, principal, instance, types=type or [], after_seq=after_seq, limit=page.limit + 1
    )
    shown = events[: page.limit]
    last_seq = shown[-1].seq if shown else after_seq
    return EventPage(
        data=[Event.from_model(e) for e in shown],
        next_cursor=encode_cursor(str(last_seq)) if len(events) > page.limit else None,
        resume_cursor=encode_cursor(str(last_seq)) if last_seq is not None else None,
    )
