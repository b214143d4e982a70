from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field, StringConstraints

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.deps import RetryPolicyDep, SessionDep, WakeupsDep
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.event import service as event_service
from whatsapp_gateway.event.models import EventScope
from whatsapp_gateway.event.schemas import Event, IngestResult, WorkerEventBatch
from whatsapp_gateway.instance.endpoints import InstanceRef
from whatsapp_gateway.pagination import InvalidCursor, Page, PageParams, decode_cursor, encode_cursor, page_params
from whatsapp_gateway.provider.auth import AuthenticatedWorker

router = APIRouter(prefix="/api", tags=["events"], responses=problem_responses(401, 404, 409, 422))
internal_router = APIRouter(
    prefix="/internal/v1/instances/{instance_id}",
    tags=["worker internal API"],
    responses=problem_responses(401, 409, 422),
)


@internal_router.post("/events", response_model=IngestResult)
async def ingest_events(
    batch: WorkerEventBatch,
    session: SessionDep,
    worker: AuthenticatedWorker,
    wakeups: WakeupsDep,
    policy: RetryPolicyDep,
) -> IngestResult:
    """Record a batch of a worker's events. Ids already recorded are skipped, so a worker retries freely."""
    result = await event_service.ingest_and_commit(session, worker, batch.events, policy)
    if result.accepted:
        wakeups.notify(event_service.wake_keys_of_batch(worker))
    return result


class EventPage(Page[Event]):
    resume_cursor: str | None = Field(
        description="Where this page ends, also on the last page: pass it as `cursor` later to get only newer events."
    )


EVENT_STREAM = "text/event-stream"
HEARTBEAT_SECONDS = 15.0
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            EVENT_STREAM: {
                "schema": {"type": "string"},
                "example": 'id: MTI\nevent: message.received\ndata: {"id": "evt_…", "type": "message.received", …}\n\n',
            }
        },
        "description": "A page of events (JSON), or with `Accept: text/event-stream` a live stream (SSE).",
    }
}
EventType = Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z][a-z_.]*$")]
TypeFilter = Annotated[
    list[EventType] | None, Query(max_length=20, description="Only events of these types (repeat the parameter).")
]
LastEventId = Annotated[
    str | None, Header(max_length=128, description="SSE resume: the `id` of the last event received.")
]


def _after_seq(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise InvalidCursor("Use a `next_cursor`, `resume_cursor` or SSE event `id` from this API, unchanged.")
    return int(cursor)


def _wants_stream(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


async def _answer(
    request: Request,
    session: SessionDep,
    scope: EventScope,
    page: PageParams,
    types: list[str],
    last_event_id: str | None,
) -> EventPage | Response:
    if _wants_stream(request):
        resume = decode_cursor(last_event_id) if last_event_id else page.after_id
        after_seq = _after_seq(resume)
        await session.commit()  # the stream opens its own short transactions; this one ends here
        return StreamingResponse(
            _sse(request, scope, types, after_seq),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    after_seq = _after_seq(page.after_id)
    events = await event_service.list_page(session, scope, types=types, after_seq=after_seq, limit=page.limit + 1)
    shown = events[: page.limit]
    last_seq = shown[-1].seq if shown else after_seq
    return EventPage(
        data=[Event.from_model(e) for e in shown],
        next_cursor=encode_cursor(str(last_seq)) if len(events) > page.limit else None,
        resume_cursor=encode_cursor(str(last_seq)) if last_seq is not None else None,
    )


async def _sse(request: Request, scope: EventScope, types: list[str], after_seq: int | None) -> AsyncIterator[str]:
    # `retry` tells EventSource clients how soon to reconnect; they then send Last-Event-ID and miss nothing.
    yield "retry: 2000\n: connected\n\n"
    loop = asyncio.get_running_loop()
    next_heartbeat = loop.time() + HEARTBEAT_SECONDS
    stream = event_service.follow(
        request.app.state.sessionmaker, request.app.state.wakeups, scope, types=types, after_seq=after_seq
    )
    async for event in stream:
        if event is not None:
            body = Event.from_model(event).model_dump_json()
            yield f"id: {encode_cursor(str(event.seq))}\nevent: {event.type}\ndata: {body}\n\n"
            continue
        if await request.is_disconnected():
            return
        if loop.time() >= next_heartbeat:
            next_heartbeat = loop.time() + HEARTBEAT_SECONDS
            yield ": heartbeat\n\n"


@router.get("/instances/{instance}/events", response_model=EventPage, responses=STREAM_RESPONSES)
async def list_events(
    instance: InstanceRef,
    request: Request,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    type: TypeFilter = None,
    last_event_id: LastEventId = None,
) -> EventPage | Response:
    """The instance's events, oldest first (newest last). Keep `resume_cursor` to read only what is new later.

    With `Accept: text/event-stream`, a live stream (SSE) instead: events as they arrive, each with an `id` to resume
    from (`Last-Event-ID`, or `cursor`), and a heartbeat comment every 15 s. Without a resume point it starts now.
    """
    scope = await event_service.instance_scope(session, principal, instance)
    return await _answer(request, session, scope, page, type or [], last_event_id)


@router.get("/events", response_model=EventPage, responses=STREAM_RESPONSES)
async def list_tenant_events(
    request: Request,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    type: TypeFilter = None,
    tenant_id: Annotated[str | None, Query(max_length=64, description="Operator only: one tenant's events.")] = None,
    last_event_id: LastEventId = None,
) -> EventPage | Response:
    """Every instance's events of the tenant (the operator: of every tenant), oldest first; or a live stream (SSE)
    with `Accept: text/event-stream`, as for one instance."""
    scope = await event_service.tenant_scope(session, principal, tenant_id)
    return await _answer(request, session, scope, page, type or [], last_event_id)
