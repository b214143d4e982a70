from __future__ import annotations

import asyncio
import enum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import PlainTextResponse

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.deps import (
    RuntimeDep,
    SecretBoxDep,
    SessionDep,
    TargetResolverDep,
    WorkersDep,
    poke_reconciler,
)
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.instance.models import DesiredState, InstanceStatus, Provider
from whatsapp_gateway.instance.qr import render_qr
from whatsapp_gateway.instance.schemas import (
    Instance,
    InstanceCreate,
    InstanceFilters,
    InstanceUpdate,
    InstanceWithSecret,
    MigrateRequest,
    PairCodeRequest,
)
from whatsapp_gateway.node import service as node_service
from whatsapp_gateway.pagination import Page, PageParams, page_params
from whatsapp_gateway.provider import service as provider_service
from whatsapp_gateway.provider.client import InstanceNotRunning, WorkerProblem, WorkerUnavailable
from whatsapp_gateway.provider.service import PairCode

router = APIRouter(prefix="/api", tags=["instances"], responses=problem_responses(401, 422))

InstanceRef = Annotated[
    str,
    Path(
        max_length=64,
        description="The instance's id (`ins_…`) or its phone number.",
        examples=["ins_01JDQ6W9Z8K3V7Q2X4N5M6P7R8", "14155550100"],
    ),
]


async def instance_filters(
    provider: Annotated[Provider | None, Query(description="Only instances of this provider.")] = None,
    status: Annotated[InstanceStatus | None, Query(description="Only instances in this status.")] = None,
    tenant_id: Annotated[
        str | None, Query(max_length=64, description="Operator only: instances of this tenant.")
    ] = None,
) -> InstanceFilters:
    return InstanceFilters(provider=provider, status=status, tenant_id=tenant_id)


@router.post(
    "/instances",
    status_code=status.HTTP_201_CREATED,
    response_model=InstanceWithSecret,
    responses=problem_responses(404, 409),
)
async def create_instance(
    data: InstanceCreate,
    request: Request,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    box: SecretBoxDep,
    resolver: TargetResolverDep,
) -> InstanceWithSecret:
    """Create an instance: one WhatsApp number served by one worker of the chosen provider.

    The instance is wanted `running`: its worker starts at once, and `GET /qr` shows the login QR a moment later.
    One tenant has at most one instance per phone number (409 otherwise).
    """
    instance, webhook_secret = await instance_service.create(session, principal, data, box=box, resolver=resolver)
    await session.commit()
    poke_reconciler(request)
    return InstanceWithSecret(**Instance.from_model(instance).model_dump(), webhook_secret=webhook_secret)


@router.get("/instances", response_model=Page[Instance], responses=problem_responses(404))
async def list_instances(
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    filters: Annotated[InstanceFilters, Depends(instance_filters)],
) -> Page[Instance]:
    """List the caller's instances, oldest first, optionally filtered by provider and status."""
    instances = await instance_service.list_page(
        session, principal, filters, limit=page.limit + 1, after_id=page.after_id
    )
    return Page[Instance].build([Instance.from_model(i) for i in instances], page.limit, id_of=lambda item: item.id)


@router.get("/instances/{instance}", response_model=Instance, responses=problem_responses(404, 409))
async def get_instance(instance: InstanceRef, session: SessionDep, principal: AuthenticatedPrincipal) -> Instance:
    """Fetch one instance by id or by phone number."""
    return Instance.from_model(await instance_service.get(session, principal, instance))


@router.patch("/instances/{instance}", response_model=InstanceWithSecret, responses=problem_responses(404, 409))
async def update_instance(
    instance: InstanceRef,
    data: InstanceUpdate,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    box: SecretBoxDep,
    resolver: TargetResolverDep,
) -> InstanceWithSecret:
    """Change an instance's name, webhook or resources. The phone number and provider are fixed at creation.

    Changing the webhook URL keeps its endpoint and secret; setting one where there was none answers the new secret
    once (`webhook_secret`); `"webhook": null` deletes the endpoint.
    """
    updated, webhook_secret = await instance_service.update(
        session, principal, instance, data, box=box, resolver=resolver
    )
    await session.commit()
    return InstanceWithSecret(**Instance.from_model(updated).model_dump(), webhook_secret=webhook_secret)


@router.delete(
    "/instances/{instance}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404, 409),
)
async def delete_instance(
    instance: InstanceRef, request: Request, session: SessionDep, principal: AuthenticatedPrincipal
) -> Response:
    """Delete an instance and everything stored for it; its worker is stopped and its files removed."""
    await instance_service.delete(session, principal, instance)
    await session.commit()
    poke_reconciler(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- lifecycle ---------------------------------------------------------------------------------------


@router.post("/instances/{instance}/start", response_model=Instance, responses=problem_responses(404, 409))
async def start_instance(
    instance: InstanceRef, request: Request, session: SessionDep, principal: AuthenticatedPrincipal
) -> Instance:
    """Want the instance running: its worker starts (or keeps running). Idempotent."""
    updated = await instance_service.set_desired_state(session, principal, instance, DesiredState.running)
    await session.commit()
    poke_reconciler(request)
    return Instance.from_model(updated)


@router.post("/instances/{instance}/stop", response_model=Instance, responses=problem_responses(404, 409))
async def stop_instance(
    instance: InstanceRef, request: Request, session: SessionDep, principal: AuthenticatedPrincipal
) -> Instance:
    """Want the instance stopped: its worker saves its session and exits (`stopping`, then `stopped`). Idempotent.

    The session is kept: starting again reconnects without a new QR scan.
    """
    updated = await instance_service.set_desired_state(session, principal, instance, DesiredState.stopped)
    await session.commit()
    poke_reconciler(request)
    return Instance.from_model(updated)


@router.post("/instances/{instance}/restart", response_model=Instance, responses=problem_responses(404, 409))
async def restart_instance(
    instance: InstanceRef, request: Request, session: SessionDep, principal: AuthenticatedPrincipal
) -> Instance:
    """Replace the instance's worker with a fresh one (a new epoch). The session is kept."""
    updated = await instance_service.get(session, principal, instance)
    await instance_service.request_restart(session, updated)
    await session.commit()
    poke_reconciler(request)
    return Instance.from_model(updated)


@router.post(
    "/instances/{instance}/migrate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Instance,
    responses=problem_responses(403, 404, 409),
)
async def migrate_instance(
    instance: InstanceRef,
    data: MigrateRequest,
    request: Request,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    runtime: RuntimeDep,
) -> Instance:
    """Move the instance's worker to another node (operator only, `RUNTIME=docker`).

    The old worker is fenced and stopped with a final state flush, the new one starts on the target from the same
    session (no new scan), and sends made meanwhile are held and delivered once it is connected. The instance shows
    `status: migrating` until then. Asking again for the node it is on does nothing.
    """
    found = await instance_service.get(session, principal, instance)
    await node_service.migrate(session, principal, found, data.target_node, multi_node=runtime.multi_node)
    await session.commit()
    poke_reconciler(request)
    return Instance.from_model(found)


@router.post("/instances/{instance}/logout", response_model=Instance, responses=problem_responses(404, 409, 503))
async def logout_instance(
    instance: InstanceRef,
    request: Request,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    workers: WorkersDep,
) -> Instance:
    """Unlink the number's device and wipe its session, then restart the worker so a new login (QR) can begin."""
    found = await instance_service.get(session, principal, instance)
    await session.commit()  # no transaction held open while the worker works
    await provider_service.logout(workers, found)
    await instance_service.request_restart(session, found)
    await session.commit()
    poke_reconciler(request)
    return Instance.from_model(found)


@router.get(
    "/instances/{instance}/logs",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **problem_responses(404, 409)},
)
async def instance_logs(
    instance: InstanceRef,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    runtime: RuntimeDep,
    tail: Annotated[int, Query(ge=1, le=10_000, description="How many of the last lines.")] = 200,
) -> PlainTextResponse:
    """The last lines its workers wrote (stdout and stderr, across restarts), oldest first."""
    found = await instance_service.get(session, principal, instance)
    await session.commit()
    lines = await runtime.logs(found.id, tail=tail)
    return PlainTextResponse("".join(line if line.endswith("\n") else line + "\n" for line in lines))


# -- login -------------------------------------------------------------------------------------------


# Answers that mean "no QR yet" while a worker is starting, worth waiting out when the caller asked to wait.
QR_NOT_YET = {"qr_unavailable", "instance_not_running", "worker_unavailable"}
QR_WAIT_STEP_SECONDS = 0.1


class QrFormat(enum.StrEnum):
    png = "png"
    svg = "svg"
    json = "json"


@router.get(
    "/instances/{instance}/qr",
    responses={
        200: {
            "content": {
                "image/png": {},
                "image/svg+xml": {},
                "application/json": {"schema": {"$ref": "#/components/schemas/QrCode"}},
            },
            "description": "The current login QR code.",
        },
        **problem_responses(404, 409, 503),
    },
    response_class=Response,
)
async def instance_qr(
    instance: InstanceRef,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    workers: WorkersDep,
    format: Annotated[QrFormat, Query(description="`png` (default), `svg`, or `json` with the raw string.")] = (
        QrFormat.png
    ),
    wait: Annotated[
        float, Query(ge=0, le=30, description="Seconds to wait for a QR when there is none yet (a worker starting).")
    ] = 0,
) -> Response:
    """The QR code to scan with WhatsApp (Linked devices → Link a device). It changes about every 20 seconds.

    404 `qr_unavailable` until the worker shows one (or pass `wait`); 409 `already_connected` once linked.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        found = await instance_service.get(session, principal, instance)
        await session.commit()
        try:
            code = await provider_service.qr(workers, found)
            break
        except (InstanceNotRunning, WorkerUnavailable, WorkerProblem) as exc:
            waiting = exc.code in QR_NOT_YET and found.desired_state is DesiredState.running
            if not waiting or loop.time() + QR_WAIT_STEP_SECONDS > deadline:
                raise
        await asyncio.sleep(QR_WAIT_STEP_SECONDS)
        # The next look must see the worker's progress, not this session's cached copy of the instance.
        session.expire_all()
    if format is QrFormat.json:
        return Response(code.model_dump_json(), media_type="application/json")
    return render_qr(code.qr, kind=format.value)


@router.post(
    "/instances/{instance}/pair-code", response_model=PairCode, responses=problem_responses(404, 409, 501, 503)
)
async def instance_pair_code(
    instance: InstanceRef,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    workers: WorkersDep,
    body: PairCodeRequest | None = None,
) -> PairCode:
    """A code to type on the phone instead of scanning a QR (Linked devices → Link with phone number).

    `phone` defaults to the instance's own number.
    """
    found = await instance_service.get(session, principal, instance)
    await session.commit()
    return await provider_service.pair_code(workers, found, body.phone if body and body.phone else found.phone_number)
