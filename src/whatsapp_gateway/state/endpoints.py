"""The state store's internal API for workers (docs/worker-protocol.md §7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from whatsapp_gateway.deps import SessionDep
from whatsapp_gateway.errors import ProblemError, UnprocessableInput, problem_responses
from whatsapp_gateway.provider.auth import AuthenticatedWorker
from whatsapp_gateway.state import service as state_service
from whatsapp_gateway.state.schemas import SnapshotWritten, StateBatch, StateBatchResult, StateKeys

router = APIRouter(
    prefix="/internal/v1/instances/{instance_id}",
    tags=["worker internal API"],
    responses=problem_responses(401, 409, 422),
)

MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024

SnapshotName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="e.g. `session.db`")]


class SnapshotTooLarge(ProblemError):
    status, code, title = 413, "snapshot_too_large", "The snapshot is too large"


@router.post("/state", response_model=StateBatchResult)
async def state_batch(batch: StateBatch, session: SessionDep, worker: AuthenticatedWorker) -> StateBatchResult:
    """Apply one atomic batch to the instance's key-value store (clear, deletes, puts, then gets)."""
    values = await state_service.apply_batch(session, worker.instance_id, batch)
    await session.commit()
    return StateBatchResult(values=values)


@router.get("/state", response_model=StateKeys)
async def state_keys(
    session: SessionDep,
    worker: AuthenticatedWorker,
    prefix: Annotated[str, Query(max_length=255)] = "",
) -> StateKeys:
    """Keys of the instance's key-value store that start with `prefix` (at most 1000)."""
    return StateKeys(keys=list(await state_service.list_keys(session, worker.instance_id, prefix)))


@router.put("/snapshots/{name}", status_code=status.HTTP_201_CREATED, response_model=SnapshotWritten)
async def write_snapshot(
    name: SnapshotName,
    request: Request,
    session: SessionDep,
    worker: AuthenticatedWorker,
    x_content_sha256: Annotated[str, Header(pattern=r"^[0-9a-fA-F]{64}$")],
    if_match: Annotated[str, Header()],
) -> SnapshotWritten:
    """Store a new generation of a snapshot, if `If-Match` names the newest one (`0` for none)."""
    generation = if_match.strip('"')
    if not generation.isdigit():
        raise UnprocessableInput("If-Match is the generation last read or written, `0` for none.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SNAPSHOT_BYTES:
            raise SnapshotTooLarge(f"Snapshots are at most {MAX_SNAPSHOT_BYTES} bytes.")
    written = await state_service.write_snapshot(
        session, worker.instance_id, name, bytes(body), sha256=x_content_sha256, if_match=int(generation)
    )
    await session.commit()
    return written


@router.get(
    "/snapshots/{name}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **problem_responses(404)},
)
async def read_snapshot(name: SnapshotName, session: SessionDep, worker: AuthenticatedWorker) -> Response:
    """The newest generation of a snapshot, with `X-Content-SHA256` and `X-Generation`."""
    snapshot = await state_service.read_snapshot(session, worker.instance_id, name)
    return Response(
        snapshot.data,
        media_type="application/octet-stream",
        headers={"X-Content-SHA256": snapshot.sha256, "X-Generation": str(snapshot.generation)},
    )
