"""FastAPI dependencies shared by every domain's endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.config import Settings
from whatsapp_gateway.crypto import SecretBox
from whatsapp_gateway.notify import Wakeups
from whatsapp_gateway.provider.client import WorkerClient
from whatsapp_gateway.provider.direct import DirectProviders
from whatsapp_gateway.runtime.base import Runtime
from whatsapp_gateway.webhook.service import RetryPolicy
from whatsapp_gateway.webhook.targets import TargetResolver

if TYPE_CHECKING:
    from whatsapp_gateway.instance.tasks import Reconciler


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_workers(request: Request) -> WorkerClient:
    workers: WorkerClient = request.app.state.workers
    return workers


def poke_reconciler(request: Request) -> None:
    """Tell the reconciler (when this process runs one) to look at instances now rather than at its next tick."""
    reconciler: Reconciler | None = request.app.state.reconciler
    if reconciler is not None:
        reconciler.poke()


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_wakeups(request: Request) -> Wakeups:
    wakeups: Wakeups = request.app.state.wakeups
    return wakeups


async def get_direct_providers(request: Request) -> DirectProviders:
    direct: DirectProviders = request.app.state.direct_providers
    return direct


WorkersDep = Annotated[WorkerClient, Depends(get_workers)]
DirectProvidersDep = Annotated[DirectProviders, Depends(get_direct_providers)]
WakeupsDep = Annotated[Wakeups, Depends(get_wakeups)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


async def get_retry_policy(request: Request) -> RetryPolicy:
    policy: RetryPolicy = request.app.state.retry_policy
    return policy


async def get_target_resolver(request: Request) -> TargetResolver:
    resolver: TargetResolver = request.app.state.webhook_resolver
    return resolver


SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]
RetryPolicyDep = Annotated[RetryPolicy, Depends(get_retry_policy)]
TargetResolverDep = Annotated[TargetResolver, Depends(get_target_resolver)]
