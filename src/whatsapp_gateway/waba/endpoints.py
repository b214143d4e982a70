"""The public webhook route Meta calls for a waba instance: `/hooks/waba/{instance_id}`.

No API key here: Meta proves itself with `X-Hub-Signature-256` (POST) and the verify token (GET). A body that does
not verify is refused with 401 before anything is parsed or stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse

from whatsapp_gateway.deps import SessionDep
from whatsapp_gateway.errors import ProblemError, problem_responses
from whatsapp_gateway.waba.service import WEBHOOK_MAX_BYTES, WabaProvider

router = APIRouter(prefix="/hooks/waba", tags=["waba webhooks"], responses=problem_responses(404, 422))

InstanceId = Annotated[str, Path(max_length=64, description="The waba instance's id (`ins_…`).")]


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload_too_large", "Payload too large"


async def get_waba(request: Request) -> WabaProvider:
    waba: WabaProvider = request.app.state.waba
    return waba


WabaDep = Annotated[WabaProvider, Depends(get_waba)]


@router.get("/{instance_id}", response_class=PlainTextResponse, responses=problem_responses(403))
async def verify_subscription(
    instance_id: InstanceId,
    session: SessionDep,
    waba: WabaDep,
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=64)] = None,
    verify_token: Annotated[str | None, Query(alias="hub.verify_token", max_length=4096)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=256)] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: answers `hub.challenge` when `hub.verify_token` is the instance's; 403 if not."""
    _, config = await waba.webhook_instance(session, instance_id)
    await session.commit()
    return PlainTextResponse(waba.verify_subscription(config, mode, verify_token, challenge))


@router.post("/{instance_id}", responses=problem_responses(400, 401, 413))
async def receive_webhook(instance_id: InstanceId, request: Request, session: SessionDep, waba: WabaDep) -> Response:
    """Messages and statuses from Meta, verified by `X-Hub-Signature-256` (the app secret's HMAC of the raw body) and
    recorded as `message.received`, `message.reaction` and `message.status` events. Redeliveries are recognised."""
    body = await _read_body(request)
    instance, config = await waba.webhook_instance(session, instance_id)
    waba.verify_signature(config, body, request.headers.get("x-hub-signature-256"))
    await waba.receive(session, instance, config, body)
    return Response(status_code=200)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > WEBHOOK_MAX_BYTES:
        raise PayloadTooLarge(f"At most {WEBHOOK_MAX_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > WEBHOOK_MAX_BYTES:
            raise PayloadTooLarge(f"At most {WEBHOOK_MAX_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)
