"""The FastAPI application: wiring of settings, database, routers, errors and middleware."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_gateway import __version__, migrate
from whatsapp_gateway.api_key import endpoints as api_key_endpoints
from whatsapp_gateway.api_key.operator_key import load_operator_key
from whatsapp_gateway.api_key.secrets import hash_key
from whatsapp_gateway.config import Settings, get_settings
from whatsapp_gateway.crypto import SecretBox
from whatsapp_gateway.db import create_engine, create_sessionmaker
from whatsapp_gateway.errors import install_problem_handlers
from whatsapp_gateway.event import endpoints as event_endpoints
from whatsapp_gateway.health import router as health_router
from whatsapp_gateway.instance import endpoints as instance_endpoints
from whatsapp_gateway.instance.models import Provider
from whatsapp_gateway.instance.tasks import WORKER_PROVIDERS, Reconciler
from whatsapp_gateway.message import endpoints as message_endpoints
from whatsapp_gateway.message.tasks import retry_queued_forever
from whatsapp_gateway.middleware import RequestContextMiddleware
from whatsapp_gateway.node import endpoints as node_endpoints
from whatsapp_gateway.node import service as node_service
from whatsapp_gateway.notify import Wakeups
from whatsapp_gateway.provider import endpoints as provider_endpoints
from whatsapp_gateway.provider import registry
from whatsapp_gateway.provider.client import WorkerClient
from whatsapp_gateway.provider.tokens import load_secret_key
from whatsapp_gateway.runtime.base import Runtime
from whatsapp_gateway.runtime.docker import DockerRuntime, DockerSettings
from whatsapp_gateway.runtime.local import LocalRuntime
from whatsapp_gateway.sandbox import endpoints as sandbox_endpoints
from whatsapp_gateway.state import endpoints as state_endpoints
from whatsapp_gateway.tenant import endpoints as tenant_endpoints
from whatsapp_gateway.waba import endpoints as waba_endpoints
from whatsapp_gateway.waba.service import WabaProvider
from whatsapp_gateway.webhook import endpoints as webhook_endpoints
from whatsapp_gateway.webhook.client import DeliveryClient
from whatsapp_gateway.webhook.service import RetryPolicy
from whatsapp_gateway.webhook.targets import TargetResolver
from whatsapp_gateway.webhook.tasks import Dispatcher, Sender

log = structlog.get_logger(__name__)

API_DESCRIPTION = """\
One REST API in front of many WhatsApp numbers. Each number (an **instance**) is served by its own isolated worker.

**Auth.** Every `/api` route takes `Authorization: Bearer <key>`: a tenant key (`wagw_…`, made with
`POST /api/tenants/{id}/keys`) or the operator's key (`API_SECRET`).

**Errors** are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) `application/problem+json` documents with a stable
`code`. Another tenant's resources answer 404, exactly like missing ones.

**Lists** are paginated by cursor: pass the `next_cursor` of one page as `cursor` to get the next.
"""

OPENAPI_TAGS = [
    {"name": "instances", "description": "WhatsApp numbers and their workers."},
    {"name": "tenants", "description": "Customer accounts (operator only, but for reading one's own)."},
    {"name": "api keys", "description": "Keys are shown once at creation and stored only as a hash."},
    {"name": "messages", "description": "Sending, receipts, presence and contact checks."},
    {"name": "events", "description": "What happened on an instance: messages received, statuses, connection."},
    {"name": "webhooks", "description": "Signed deliveries of events to your endpoints; the delivery log and replays."},
    {"name": "providers", "description": "The engines and what each can do."},
    {"name": "nodes", "description": "Docker engines that run workers, with health and placement (operator only)."},
    {"name": "sandbox", "description": "The simulated WhatsApp network: play the phone and outside contacts."},
    {"name": "waba webhooks", "description": "Meta's Cloud API webhooks for `waba` instances: signed by Meta, no key."},
    {"name": "worker internal API", "description": "For workers only (worker token); see docs/worker-protocol.md."},
    {"name": "health", "description": "Probes for orchestrators; no auth."},
]


async def _create_runtime(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Runtime:
    if settings.runtime == "local":
        return LocalRuntime(settings.data_dir.resolve())
    registry.use_images()
    # One engine works with no setup: DOCKER_HOST becomes node `default` when no node is registered.
    async with sessionmaker() as session:
        await node_service.ensure_default(session, settings.docker_host, network=settings.docker_network)
        await session.commit()
    return DockerRuntime(
        DockerSettings(
            cluster=settings.docker_cluster,
            image_for={p.value: settings.worker_image.format(provider=p.value) for p in WORKER_PROVIDERS},
            pids_limit=settings.worker_pids_limit,
            control_plane_port=settings.port,
            internal_url=settings.internal_url,
        )
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database_url = settings.resolved_database_url
        if database_url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.migrate_on_start:
            # Alembic drives its own event loop, so it runs in a thread of its own.
            await asyncio.to_thread(migrate.upgrade, database_url)
        operator_key = load_operator_key(settings)
        app.state.settings = settings
        app.state.engine = create_engine(database_url, pool_size=settings.database_pool_size)
        app.state.sessionmaker = create_sessionmaker(app.state.engine)
        app.state.operator_key_hash = hash_key(operator_key.key)
        app.state.operator_key = operator_key
        app.state.secret_key = load_secret_key(settings)
        # One pooled client for every call to workers: connections to a worker are kept alive between calls.
        worker_http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        app.state.workers = WorkerClient(worker_http, app.state.secret_key)
        app.state.runtime = await _create_runtime(settings, app.state.sessionmaker)
        app.state.wakeups = Wakeups()
        app.state.secret_box = SecretBox(app.state.secret_key)
        app.state.retry_policy = RetryPolicy(settings.webhook_retry_delays)
        app.state.webhook_resolver = TargetResolver(allow_private=settings.webhook_allow_private_targets)
        # Customers' receivers get a client of their own (webhook/client.py says why it is not httpx).
        webhook_client = DeliveryClient(max_idle_per_origin=settings.webhook_concurrency)
        # The Cloud API provider runs here (Meta hosts the number); sends to its instances go to it, not to a worker.
        app.state.waba = WabaProvider(settings, app.state.secret_box, app.state.wakeups, app.state.retry_policy)
        app.state.direct_providers = {Provider.waba: app.state.waba}
        app.state.reconciler = None
        background: list[asyncio.Task[None]] = []
        if settings.reconciler_enabled:
            reconciler = Reconciler(
                app.state.sessionmaker,
                app.state.runtime,
                app.state.workers,
                settings,
                app.state.secret_key,
                gateway_url=settings.resolved_internal_url(),
                secret_box=app.state.secret_box,
            )
            app.state.reconciler = reconciler
            background.append(asyncio.create_task(reconciler.run(), name="reconciler"))
            background.append(
                asyncio.create_task(
                    retry_queued_forever(app.state.sessionmaker, app.state.workers, app.state.direct_providers),
                    name="message-retry",
                )
            )
            dispatcher = Dispatcher(
                app.state.sessionmaker,
                app.state.wakeups,
                Sender(webhook_client, app.state.webhook_resolver, timeout=settings.webhook_timeout_seconds),
                app.state.secret_box,
                app.state.retry_policy,
                settings,
                holder=reconciler.holder,
            )
            background.append(asyncio.create_task(dispatcher.run(), name="webhook-dispatcher"))
        log.info("started", version=__version__, database=app.state.engine.dialect.name)
        try:
            yield
        finally:
            # Workers keep running: a restarted control plane adopts them. Only our own loops stop.
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if app.state.reconciler is not None:
                await app.state.reconciler.close()
            await worker_http.aclose()
            await app.state.runtime.aclose()
            await webhook_client.aclose()
            await app.state.waba.aclose()
            await app.state.engine.dispose()

    app = FastAPI(
        title="WhatsApp Gateway",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        # No 307 from `/api/instances/x/` to `/api/instances/x`: a trailing slash, or an id with an encoded `/`
        # (the path is matched decoded), is an unknown route, answered 404 like any other.
        redirect_slashes=False,
    )
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router)
    app.include_router(instance_endpoints.router)
    app.include_router(tenant_endpoints.router)
    app.include_router(api_key_endpoints.router)
    app.include_router(message_endpoints.router)
    app.include_router(event_endpoints.router)
    app.include_router(webhook_endpoints.router)
    app.include_router(provider_endpoints.router)
    app.include_router(node_endpoints.router)
    app.include_router(sandbox_endpoints.router)
    app.include_router(event_endpoints.internal_router)
    app.include_router(state_endpoints.router)
    app.include_router(sandbox_endpoints.hub_router)
    app.include_router(waba_endpoints.router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
