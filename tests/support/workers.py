"""Calling the internal API the way a worker does, for tests through the ASGI transport."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import update

from whatsapp_gateway.instance.models import Instance
from whatsapp_gateway.provider.tokens import worker_token


@dataclass(frozen=True)
class WorkerIdentity:
    instance_id: str
    epoch: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Worker-Epoch": str(self.epoch)}

    def path(self, rest: str) -> str:
        return f"/internal/v1/instances/{self.instance_id}{rest}"


async def set_epoch(app: FastAPI, instance_id: str, epoch: int) -> WorkerIdentity:
    """Make `epoch` the instance's current one, as the reconciler does when it starts a worker."""
    async with app.state.sessionmaker() as session:
        await session.execute(update(Instance).where(Instance.id == instance_id).values(epoch=epoch))
        await session.commit()
    return identity(app, instance_id, epoch)


def identity(app: FastAPI, instance_id: str, epoch: int) -> WorkerIdentity:
    return WorkerIdentity(instance_id, epoch, worker_token(app.state.secret_key, instance_id, epoch))
