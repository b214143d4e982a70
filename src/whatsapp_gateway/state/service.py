"""The state store: where workers keep their sessions, so a session outlives its worker (protocol §7)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.errors import NotFound, ProblemError, UnprocessableInput
from whatsapp_gateway.state.models import InstanceSnapshot
from whatsapp_gateway.state.repository import StateRepository
from whatsapp_gateway.state.schemas import MAX_BATCH_CHARS, MAX_KEYS_PER_BATCH, SnapshotWritten, StateBatch

KEEP_SNAPSHOT_GENERATIONS = 3


class BatchTooLarge(ProblemError):
    status, code, title = 413, "batch_too_large", "The state batch is too large"


class ChecksumMismatch(UnprocessableInput):
    code, title = "checksum_mismatch", "The snapshot's bytes do not match X-Content-SHA256"


class GenerationConflict(ProblemError):
    status, code, title = 412, "generation_conflict", "The snapshot changed since the generation given in If-Match"


class SnapshotNotFound(NotFound):
    code, title = "snapshot_not_found", "No snapshot of that name"


async def apply_batch(session: AsyncSession, instance_id: str, batch: StateBatch) -> dict[str, str | None]:
    if sum(len(k) + len(v) for k, v in batch.put.items()) > MAX_BATCH_CHARS:
        raise BatchTooLarge(f"Put at most {MAX_BATCH_CHARS} characters per batch; split it.")
    repository = StateRepository(session)
    if batch.clear:
        await repository.clear(instance_id)
    await repository.delete_many(instance_id, batch.delete)
    await repository.put_many(instance_id, batch.put)
    found = await repository.get_many(instance_id, batch.get)
    return {key: found.get(key) for key in batch.get}


async def list_keys(session: AsyncSession, instance_id: str, prefix: str) -> Sequence[str]:
    return await StateRepository(session).list_keys(instance_id, prefix, limit=MAX_KEYS_PER_BATCH)


async def clear(session: AsyncSession, instance_id: str) -> None:
    await StateRepository(session).clear(instance_id)


async def write_snapshot(
    session: AsyncSession, instance_id: str, name: str, data: bytes, *, sha256: str, if_match: int
) -> SnapshotWritten:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise ChecksumMismatch(f"The body's sha256 is {actual}.")
    repository = StateRepository(session)
    current = await repository.latest_generation(instance_id, name)
    if if_match != current:
        raise GenerationConflict(f"The newest generation is {current}; read it before writing over it.")
    snapshot = InstanceSnapshot(
        instance_id=instance_id, name=name, generation=current + 1, sha256=actual, size=len(data), data=data
    )
    try:
        await repository.add_snapshot(snapshot)
    except IntegrityError as exc:  # a concurrent write took this generation first
        raise GenerationConflict("Another write took this generation first.") from exc
    await repository.prune_snapshots(
        instance_id, name, keep_from_generation=snapshot.generation - KEEP_SNAPSHOT_GENERATIONS + 1
    )
    return SnapshotWritten(generation=snapshot.generation, sha256=actual, size=len(data))


async def read_snapshot(session: AsyncSession, instance_id: str, name: str) -> InstanceSnapshot:
    snapshot = await StateRepository(session).latest_snapshot(instance_id, name)
    if snapshot is None:
        raise SnapshotNotFound(f"No snapshot {name!r} for this instance.")
    return snapshot
