"""The sandbox: the hub API for sandbox workers, and the public API that plays phones and outside contacts."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.deps import SessionDep, WakeupsDep
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.instance.models import Provider
from whatsapp_gateway.message.schemas import ContactsCheckRequest, ContactsCheckResult
from whatsapp_gateway.notify import Wakeups, mailbox_key
from whatsapp_gateway.provider.auth import AuthenticatedWorker, WorkerCaller
from whatsapp_gateway.sandbox.schemas import (
    ConnectRequest,
    ConnectResult,
    EnterCodeRequest,
    HubPresenceRequest,
    HubReadRequest,
    HubSendResult,
    InboundAccepted,
    InboundBatch,
    InboundBatchAccepted,
    InboundMessage,
    InstanceAction,
    Linked,
    LoginOffer,
    PairCodeRequest,
    PollResult,
    ScanRequest,
)
from whatsapp_gateway.sandbox.service import Hub, NotASandboxInstance

router = APIRouter(prefix="/api/sandbox", tags=["sandbox"], responses=problem_responses(401, 404, 422))
hub_router = APIRouter(
    prefix="/internal/v1/instances/{instance_id}/sandbox",
    tags=["worker internal API"],
    responses=problem_responses(401, 404, 409, 422),
)

# A poll rechecks the mailbox this often even without a notification (another replica may have written to it).
POLL_RECHECK_SECONDS = 1.0


Notifier = WakeupsDep


async def _sandbox_worker(worker: AuthenticatedWorker, session: SessionDep) -> WorkerCaller:
    instance = await instance_service.get_for_worker(session, worker.instance_id)
    if instance is None or instance.provider is not Provider.sandbox:
        raise NotASandboxInstance("Only sandbox workers reach the sandbox network.")
    return worker


SandboxWorker = Annotated[WorkerCaller, Depends(_sandbox_worker)]


async def _commit(hub: Hub, notifier: Wakeups) -> None:
    await hub.session.commit()
    notifier.notify(mailbox_key(instance_id) for instance_id in hub.touched)


# -- hub API (sandbox worker → control plane) --------------------------------------------------------


@hub_router.post("/connect", response_model=ConnectResult)
async def connect(
    body: ConnectRequest, session: SessionDep, worker: SandboxWorker, notifier: Notifier
) -> ConnectResult:
    hub = Hub(session)
    result = await hub.connect(worker, body.session.model_dump() if body.session else None)
    await _commit(hub, notifier)
    return result


@hub_router.post("/qr", response_model=LoginOffer, response_model_exclude_none=True)
async def new_qr(session: SessionDep, worker: SandboxWorker) -> LoginOffer:
    offer = await Hub(session).new_qr(worker)
    await session.commit()
    return offer


@hub_router.post("/pair-code", response_model=LoginOffer, response_model_exclude_none=True)
async def new_pair_code(body: PairCodeRequest, session: SessionDep, worker: SandboxWorker) -> LoginOffer:
    offer = await Hub(session).new_pair_code(worker, body.phone)
    await session.commit()
    return offer


@hub_router.get("/poll", response_model=PollResult)
async def poll(
    session: SessionDep,
    worker: SandboxWorker,
    notifier: Notifier,
    after: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[float, Query(ge=0, le=30)] = 0,
) -> PollResult:
    """Items after `after`, waiting up to `wait` seconds for one. `after` acknowledges every item up to it."""
    hub = Hub(session)
    await hub.acknowledge(worker, after)
    await _commit(hub, notifier)
    loop = asyncio.get_running_loop()
    loop_deadline = loop.time() + wait
    while True:
        items = await hub.pending(worker, after)
        # End the read transaction before waiting: on SQLite the process has one connection for everyone.
        await session.commit()
        remaining = loop_deadline - loop.time()
        if items or remaining <= 0 or notifier.closing:
            return PollResult(items=items)
        await notifier.wait([mailbox_key(worker.instance_id)], min(remaining, POLL_RECHECK_SECONDS))


@hub_router.post("/messages", response_model=HubSendResult)
async def send(
    body: dict[str, object], session: SessionDep, worker: SandboxWorker, notifier: Notifier
) -> HubSendResult:
    hub = Hub(session)
    provider_message_id = await hub.send(worker, body)
    await _commit(hub, notifier)
    return HubSendResult(provider_message_id=provider_message_id)


@hub_router.post("/read", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def read(body: HubReadRequest, session: SessionDep, worker: SandboxWorker, notifier: Notifier) -> Response:
    hub = Hub(session)
    await hub.read(worker, body.message_ids)
    await _commit(hub, notifier)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@hub_router.post("/presence", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def presence(
    body: HubPresenceRequest, session: SessionDep, worker: SandboxWorker, notifier: Notifier
) -> Response:
    hub = Hub(session)
    await hub.presence(worker, body.chat, body.state)
    await _commit(hub, notifier)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@hub_router.post("/contacts/check", response_model=ContactsCheckResult)
async def check_contacts(body: ContactsCheckRequest, session: SessionDep, worker: SandboxWorker) -> ContactsCheckResult:
    return ContactsCheckResult.model_validate({"results": Hub(session).check_contacts(worker, body.phones)})


@hub_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(session: SessionDep, worker: SandboxWorker) -> Response:
    await Hub(session).logout(worker)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- public API ----------------------------------------------------------------------------------


@router.post("/scan", response_model=Linked, responses=problem_responses(410))
async def scan(body: ScanRequest, session: SessionDep, principal: AuthenticatedPrincipal, notifier: Notifier) -> Linked:
    """Play the phone that scans a sandbox instance's QR code: the instance gets linked and connects."""
    hub = Hub(session)
    instance = await hub.link(principal, body.qr, "qr")
    await _commit(hub, notifier)
    return Linked(instance=instance.id, phone=instance.phone_number)


@router.post("/enter-code", response_model=Linked, responses=problem_responses(410))
async def enter_code(
    body: EnterCodeRequest, session: SessionDep, principal: AuthenticatedPrincipal, notifier: Notifier
) -> Linked:
    """Play the phone where the user types a sandbox instance's pair code."""
    hub = Hub(session)
    instance = await hub.link(principal, body.code, "code")
    await _commit(hub, notifier)
    return Linked(instance=instance.id, phone=instance.phone_number)


@router.post("/inbound", status_code=status.HTTP_202_ACCEPTED, response_model=InboundAccepted)
async def inbound(
    body: InboundMessage, session: SessionDep, principal: AuthenticatedPrincipal, notifier: Notifier
) -> InboundAccepted:
    """Deliver a message from a simulated outside contact to a sandbox number.

    The instance's worker receives it like any WhatsApp message and reports `message.received`.
    """
    hub = Hub(session)
    provider_message_id = await hub.inbound(principal, body)
    await _commit(hub, notifier)
    return InboundAccepted(provider_message_id=provider_message_id)


@router.post("/inbound/batch", status_code=status.HTTP_202_ACCEPTED, response_model=InboundBatchAccepted)
async def inbound_batch(
    body: InboundBatch, session: SessionDep, principal: AuthenticatedPrincipal, notifier: Notifier
) -> InboundBatchAccepted:
    """Deliver up to 500 messages from simulated contacts in one request (all or none), in the order given."""
    hub = Hub(session)
    ids = await hub.inbound_many(principal, body.messages)
    await _commit(hub, notifier)
    return InboundBatchAccepted(provider_message_ids=ids)


@router.post("/unlink", response_model=Linked)
async def unlink(
    body: InstanceAction, session: SessionDep, principal: AuthenticatedPrincipal, notifier: Notifier
) -> Linked:
    """Play the phone removing the linked device: the worker reports `session.logged_out`."""
    hub = Hub(session)
    instance = await hub.unlink(principal, body.instance, body.reason)
    await _commit(hub, notifier)
    return Linked(instance=instance.id, phone=instance.phone_number)


@router.post("/drop", response_model=Linked)
async def drop(
    body: InstanceAction, session: SessionDep, principal: AuthenticatedPrincipal, notifier: Notifier
) -> Linked:
    """Break the instance's connection to the network: the worker reports `session.disconnected`, then reconnects."""
    hub = Hub(session)
    instance = await hub.drop(principal, body.instance, body.reason)
    await _commit(hub, notifier)
    return Linked(instance=instance.id, phone=instance.phone_number)
