"""Calls to an instance's worker, by what they mean (login, logout, receipts, presence, contact checks)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from whatsapp_gateway.instance.models import Instance
from whatsapp_gateway.provider.client import WorkerClient, WorkerProblem, WorkerTarget

ModelT = TypeVar("ModelT", bound=BaseModel)


class QrCode(BaseModel):
    qr: str
    expires_at: dt.datetime | None = None


class PairCode(BaseModel):
    code: str
    expires_at: dt.datetime | None = None


def target_of(instance: Instance) -> WorkerTarget:
    return WorkerTarget(instance.id, instance.epoch, instance.worker_address)


async def qr(workers: WorkerClient, instance: Instance) -> QrCode:
    body = await workers.json(target_of(instance), "GET", "/v1/qr")
    return _validated(QrCode, body)


async def pair_code(workers: WorkerClient, instance: Instance, phone: str) -> PairCode:
    body = await workers.json(target_of(instance), "POST", "/v1/pair-code", json={"phone": phone})
    return _validated(PairCode, body)


async def logout(workers: WorkerClient, instance: Instance) -> None:
    await workers.request(target_of(instance), "POST", "/v1/logout")


async def call(workers: WorkerClient, instance: Instance, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A pass-through call whose body the API already validated (read, presence, contact checks)."""
    return await workers.json(target_of(instance), "POST", path, json=body)


async def media(workers: WorkerClient, instance: Instance, media_id: str) -> tuple[bytes, str]:
    response = await workers.request(target_of(instance), "GET", f"/v1/media/{media_id}")
    return response.content, response.headers.get("content-type", "application/octet-stream")


def _validated(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise WorkerProblem(502, "worker_error", "The worker answered something unexpected", str(exc)[:500]) from exc
