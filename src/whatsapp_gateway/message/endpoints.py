from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.config import Settings
from whatsapp_gateway.deps import DirectProvidersDep, SessionDep, SettingsDep, WorkersDep
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.instance.endpoints import InstanceRef
from whatsapp_gateway.message import service as message_service
from whatsapp_gateway.message.models import MessageStatus
from whatsapp_gateway.message.schemas import (
    ContactsCheckRequest,
    ContactsCheckResult,
    Message,
    MessageSend,
    PresenceRequest,
    ReadRequest,
    TextSend,
)
from whatsapp_gateway.pagination import Page, PageParams, page_params
from whatsapp_gateway.provider import service as provider_service
from whatsapp_gateway.provider.client import WorkerClient
from whatsapp_gateway.provider.direct import DirectProviders

# Every route takes an instance reference, and a phone number shared by tenants is ambiguous to the operator (409).
router = APIRouter(prefix="/api", tags=["messages"], responses=problem_responses(401, 404, 409, 422))

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        description="Any unique string (a UUID). A retry with the same key and body returns the first result and "
        "never sends twice; the same key with another body is refused.",
    ),
]
SEND_ERRORS = problem_responses(409, 413, 503)


@dataclass(frozen=True)
class _Sender:
    """What both send routes need besides their body: one dependency instead of the same six parameters twice."""

    session: SessionDep
    principal: Principal
    workers: WorkerClient
    direct: DirectProviders
    settings: Settings
    response: Response
    idempotency_key: str | None

    async def send(self, instance: str, body: MessageSend) -> Message:
        message, created = await message_service.send(
            self.session,
            self.principal,
            instance,
            body,
            idempotency_key=self.idempotency_key,
            workers=self.workers,
            settings=self.settings,
            direct=self.direct,
        )
        if not created:
            self.response.headers["Idempotent-Replayed"] = "true"
        return Message.from_model(message)


async def _sender(
    response: Response,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    workers: WorkersDep,
    direct: DirectProvidersDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> _Sender:
    return _Sender(session, principal, workers, direct, settings, response, idempotency_key)


Sender = Annotated[_Sender, Depends(_sender)]


@router.post(
    "/instances/{instance}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses=SEND_ERRORS,
)
async def send_message(instance: InstanceRef, body: MessageSend, sender: Sender) -> Message:
    """Send a message of any type: text, image, video, audio (`voice_note`), document, sticker, location, contact,
    reaction or poll. Media comes by `url` (the worker downloads it) or inline as `base64`.

    Answers 202 with the message: `sent` once the worker took it, or `queued` when the worker could not be reached
    (it is retried for 24 hours). Follow its status with `GET /messages/{id}` or `message.status` events.
    """
    return await sender.send(instance, body)


@router.post(
    "/instances/{instance}/send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses=SEND_ERRORS,
)
async def send_text(instance: InstanceRef, body: TextSend, sender: Sender) -> Message:
    """Send a text message (the original sketch's body). `POST /messages` sends every other type."""
    return await sender.send(instance, body.as_message())


@router.get("/instances/{instance}/messages", response_model=Page[Message])
async def list_messages(
    instance: InstanceRef,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[MessageStatus | None, Query(description="Only messages in this status.")] = None,
) -> Page[Message]:
    """The instance's outbound messages, oldest first."""
    messages = await message_service.list_page(
        session, principal, instance, status=status, after_id=page.after_id, limit=page.limit + 1
    )
    return Page[Message].build([Message.from_model(m) for m in messages], page.limit, id_of=lambda m: m.id)


@router.get("/instances/{instance}/messages/{message_id}", response_model=Message)
async def get_message(
    instance: InstanceRef,
    message_id: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    principal: AuthenticatedPrincipal,
) -> Message:
    """An outbound message and its status: `queued`, `sent`, `delivered`, `read` (or `played`), or `failed`."""
    return Message.from_model(await message_service.get(session, principal, instance, message_id))


@router.post(
    "/instances/{instance}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(409, 503),
)
async def mark_read(
    instance: InstanceRef,
    body: ReadRequest,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    workers: WorkersDep,
    direct: DirectProvidersDep,
) -> Response:
    """Mark received messages as read (blue ticks for the sender). `message_ids` are provider message ids."""
    found = await instance_service.get(session, principal, instance)
    if (provider := direct.get(found.provider)) is not None:
        await provider.mark_read(session, found, body.message_ids)
        await session.commit()
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    await session.commit()
    payload = body.model_dump(exclude_none=True)
    payload["chat"] = message_service.normalize_recipient(body.chat)
    await provider_service.call(workers, found, "/v1/read", payload)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/instances/{instance}/presence",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(409, 503),
)
async def set_presence(
    instance: InstanceRef,
    body: PresenceRequest,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    workers: WorkersDep,
    direct: DirectProvidersDep,
) -> Response:
    """Show `composing` (typing…) or `recording` in a chat, or `paused`; or go `available`/`unavailable`.

    waba: only `composing`, shown against a received message (`message_id`), which it also marks read.
    """
    found = await instance_service.get(session, principal, instance)
    chat = message_service.normalize_recipient(body.chat)
    if (provider := direct.get(found.provider)) is not None:
        await provider.presence(session, found, chat, body.state.value, body.message_id)
        await session.commit()
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    await session.commit()
    payload = {"chat": chat, "state": body.state.value}
    await provider_service.call(workers, found, "/v1/presence", payload)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/instances/{instance}/contacts/check",
    response_model=ContactsCheckResult,
    responses=problem_responses(409, 503),
)
async def check_contacts(
    instance: InstanceRef,
    body: ContactsCheckRequest,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    workers: WorkersDep,
) -> ContactsCheckResult:
    """Which of these numbers are on WhatsApp, with their JID and LID (at most 50 per call)."""
    found = await instance_service.get(session, principal, instance)
    await session.commit()
    result = await provider_service.call(workers, found, "/v1/contacts/check", body.model_dump())
    return ContactsCheckResult.model_validate(result)


@router.get(
    "/instances/{instance}/media/{media_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **problem_responses(409, 503)},
)
async def download_media(
    instance: InstanceRef,
    media_id: Annotated[str, Path(max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")],
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    workers: WorkersDep,
    direct: DirectProvidersDep,
) -> Response:
    """The file of a received image, video, audio, document or sticker (the id from `media.download`)."""
    found = await instance_service.get(session, principal, instance)
    if (provider := direct.get(found.provider)) is not None:
        content, media_type = await provider.media(session, found, media_id)
        await session.commit()
        return Response(content, media_type=media_type)
    await session.commit()
    content, media_type = await provider_service.media(workers, found, media_id)
    return Response(content, media_type=media_type)
