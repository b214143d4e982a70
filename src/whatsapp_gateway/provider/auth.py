"""Authentication of workers calling the internal API (`/internal/v1/…`): per-instance token, bound to the epoch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from whatsapp_gateway.deps import SessionDep
from whatsapp_gateway.errors import Conflict, Unauthorized
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.provider.tokens import token_matches


class EpochSuperseded(Conflict):
    code, title = "epoch_superseded", "A newer worker owns this instance: stop now"


@dataclass(frozen=True)
class WorkerCaller:
    instance_id: str
    tenant_id: str
    phone: str
    epoch: int


def _unauthorized() -> Unauthorized:
    return Unauthorized("Send the worker's `Authorization: Bearer <WORKER_TOKEN>` and `X-Worker-Epoch`.")


async def authenticate_worker(
    request: Request,
    session: SessionDep,
    instance_id: Annotated[str, Path(max_length=64)],
    x_worker_epoch: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> WorkerCaller:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token or not x_worker_epoch or not x_worker_epoch.isdigit():
        raise _unauthorized()
    epoch = int(x_worker_epoch)
    instance = await instance_service.get_for_worker(session, instance_id)
    secret_key: bytes = request.app.state.secret_key
    # The token is checked before the epoch, so that only a genuine (if old) worker ever learns it was superseded.
    if instance is None or epoch > instance.epoch or not token_matches(secret_key, instance_id, epoch, token):
        raise _unauthorized()
    if epoch != instance.epoch:
        raise EpochSuperseded(f"Epoch {epoch} was superseded by {instance.epoch}; exit with status 75.")
    return WorkerCaller(instance.id, instance.tenant_id, instance.phone_number, epoch)


AuthenticatedWorker = Annotated[WorkerCaller, Depends(authenticate_worker)]
