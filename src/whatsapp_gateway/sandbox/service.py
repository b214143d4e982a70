"""The sandbox hub: the simulated WhatsApp servers that sandbox workers connect to (docs/providers/sandbox.md).

Every call records which instances' mailboxes it touched (`Hub.touched`); the endpoint commits, then wakes their
long polls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.errors import Conflict, NotFound, ProblemError, UnprocessableInput
from whatsapp_gateway.ids import new_id
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.instance.fields import normalize_phone
from whatsapp_gateway.instance.models import Instance, Provider
from whatsapp_gateway.provider import registry
from whatsapp_gateway.provider.auth import WorkerCaller
from whatsapp_gateway.sandbox.models import SandboxDevice, SandboxLink, SandboxMessage
from whatsapp_gateway.sandbox.repository import SandboxRepository
from whatsapp_gateway.sandbox.schemas import ConnectResult, InboundMessage, LoginOffer, Person

QR_PREFIX = "sandbox:1:"
QR_LIFETIME = dt.timedelta(seconds=60)
PAIR_CODE_LIFETIME = dt.timedelta(minutes=3)
# Pair codes avoid letters and digits people confuse (0/O, 1/I/L), as WhatsApp's do.
PAIR_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
POLL_BATCH = 100
SANDBOX_MESSAGE_TYPES = registry.get(Provider.sandbox).message_types
USER_SERVER = "s.whatsapp.net"


class NotASandboxInstance(NotFound):
    code, title = "sandbox_instance_not_found", "No sandbox instance by that reference"


class LinkNotFound(NotFound):
    code, title = "link_not_found", "No sandbox login waits for that QR or code"


class LinkExpired(ProblemError):
    status, code, title = 410, "link_expired", "That QR or code has expired; use the current one"


class PhoneMismatch(UnprocessableInput):
    code, title = "phone_mismatch", "A pair code links the instance's own number only"


class HubNotConnected(Conflict):
    code, title = "not_connected", "No device is linked to this sandbox number"


class HubInvalidRecipient(UnprocessableInput):
    code, title = "invalid_recipient", "The sandbox cannot deliver to that recipient"


def lid_of(tenant_id: str, phone: str) -> str:
    """A stable, per-tenant LID for a number, as WhatsApp hides numbers behind `@lid` ids."""
    digest = hashlib.sha256(f"sandbox-lid:{tenant_id}:{phone}".encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**15:015d}@lid"


def person(tenant_id: str, phone: str, push_name: str | None = None) -> Person:
    return Person(phone=phone, jid=f"{phone}@{USER_SERVER}", lid=lid_of(tenant_id, phone), push_name=push_name)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _phone_of(chat: str) -> str:
    """A sandbox chat is a phone number or its user JID; groups and bare LIDs are not simulated."""
    user, at, server = chat.partition("@")
    if at and server != USER_SERVER:
        raise HubInvalidRecipient(f"The sandbox simulates one-to-one chats only, not {server!r} ones.")
    try:
        return normalize_phone(user.split(":")[0])
    except ValueError:
        raise HubInvalidRecipient(f"{chat!r} is not a phone number.") from None


class Hub:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repository = SandboxRepository(session)
        self.touched: set[str] = set()

    async def _enqueue(self, instance_id: str, kind: str, payload: dict[str, Any]) -> None:
        await self.repository.enqueue(instance_id, kind, payload)
        self.touched.add(instance_id)

    async def _sandbox_number(self, tenant_id: str, phone: str) -> Instance | None:
        for instance in await instance_service.find_by_phone_in_tenant(self.session, tenant_id, phone):
            if instance.provider is Provider.sandbox:
                return instance
        return None

    # -- the worker's side -----------------------------------------------------------------------------

    async def connect(self, caller: WorkerCaller, session: dict[str, str] | None) -> ConnectResult:
        if session is None:
            return ConnectResult(status="unpaired")
        device = await self.repository.device(caller.instance_id)
        if (
            device is None
            or not hmac.compare_digest(device.device_id, session["device_id"])
            or not hmac.compare_digest(device.secret_hash, _secret_hash(session["device_secret"]))
        ):
            return ConnectResult(status="logged_out", reason="device_removed")
        # A drop that was queued while the worker was away is moot now that it connects anew.
        await self.repository.delete_items(caller.instance_id, kinds=["drop"])
        return ConnectResult(status="connected", me=person(caller.tenant_id, caller.phone))

    async def new_qr(self, caller: WorkerCaller) -> LoginOffer:
        code = QR_PREFIX + secrets.token_urlsafe(18)
        now = utcnow()
        expires_at = now + QR_LIFETIME
        # Issuing a QR expires the previous ones: only the QR on screen can be scanned.
        await self.repository.expire_links(caller.instance_id, "qr", now=now)
        await self.repository.add_link(
            SandboxLink(
                code=code, kind="qr", tenant_id=caller.tenant_id, instance_id=caller.instance_id, expires_at=expires_at
            )
        )
        return LoginOffer(qr=code, expires_at=expires_at)

    async def new_pair_code(self, caller: WorkerCaller, phone: str) -> LoginOffer:
        try:
            normalized = normalize_phone(phone)
        except ValueError:
            normalized = ""
        if normalized != caller.phone:
            raise PhoneMismatch(f"This instance's number is {caller.phone}.")
        raw = "".join(secrets.choice(PAIR_CODE_ALPHABET) for _ in range(8))
        now = utcnow()
        expires_at = now + PAIR_CODE_LIFETIME
        await self.repository.expire_links(caller.instance_id, "code", now=now)
        await self.repository.add_link(
            SandboxLink(
                code=raw, kind="code", tenant_id=caller.tenant_id, instance_id=caller.instance_id, expires_at=expires_at
            )
        )
        return LoginOffer(code=f"{raw[:4]}-{raw[4:]}", expires_at=expires_at)

    async def acknowledge(self, caller: WorkerCaller, up_to: int) -> None:
        """Delete items the worker has taken in; a message taken in is `delivered` to its sender."""
        items = await self.repository.items_up_to(caller.instance_id, up_to)
        taken_in = [str(item.payload["message"]["provider_message_id"]) for item in items if item.kind == "message"]
        # One query for the batch; messages from outside contacts (most, under load) have nobody to tell.
        for sent in await self.repository.messages_from_instances(taken_in):
            await self._receipt_for(sent, "delivered")
        if items:
            await self.repository.delete_items(caller.instance_id, up_to=up_to)

    async def pending(self, caller: WorkerCaller, after: int) -> list[dict[str, Any]]:
        items = await self.repository.items_after(caller.instance_id, after, limit=POLL_BATCH)
        return [{**item.payload, "seq": item.seq, "kind": item.kind} for item in items]

    async def send(self, caller: WorkerCaller, body: dict[str, Any]) -> str:
        if await self.repository.device(caller.instance_id) is None:
            raise HubNotConnected("Link a device first (scan the QR).")
        to, client_id, kind = body.get("to"), body.get("id"), body.get("type")
        if not isinstance(to, str):
            raise HubInvalidRecipient("`to` is required.")
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 80 or not client_id.isprintable():
            raise UnprocessableInput("`id` is the client's message id: 1-80 printable characters.")
        if not isinstance(kind, str) or kind not in SANDBOX_MESSAGE_TYPES:
            raise UnprocessableInput(f"The sandbox carries {', '.join(sorted(SANDBOX_MESSAGE_TYPES))} messages.")
        recipient_phone = _phone_of(to)
        provider_message_id = "SBX" + secrets.token_hex(10).upper()
        recipient = await self._sandbox_number(caller.tenant_id, recipient_phone)
        await self.repository.add_message(
            SandboxMessage(
                provider_message_id=provider_message_id,
                tenant_id=caller.tenant_id,
                sender_instance_id=caller.instance_id,
                client_message_id=client_id,
                sender_phone=caller.phone,
                recipient_phone=recipient_phone,
                recipient_instance_id=recipient.id if recipient else None,
            )
        )
        if recipient is None:
            # An outside contact: its phone is always online, and never reads.
            await self._receipt(provider_message_id, "delivered")
        else:
            await self._deliver(recipient.id, caller.tenant_id, caller.phone, None, provider_message_id, body)
        return provider_message_id

    async def _deliver(
        self,
        recipient_instance_id: str,
        tenant_id: str,
        sender_phone: str,
        push_name: str | None,
        provider_message_id: str,
        body: dict[str, Any],
    ) -> None:
        sender = person(tenant_id, sender_phone, push_name)
        message: dict[str, Any] = {
            "provider_message_id": provider_message_id,
            "chat": sender.jid,
            "from": sender.model_dump(),
            "type": body["type"],
            "timestamp": utcnow().isoformat(),
            "is_group": False,
        }
        for field in ("text", "media", "location", "contact", "reaction", "reply_to", "voice_note"):
            if body.get(field) is not None:
                message[field] = body[field]
        await self._enqueue(recipient_instance_id, "message", {"message": message})

    async def _receipt(self, provider_message_id: str, status: str) -> None:
        sent = await self.repository.message(provider_message_id)
        if sent is not None:
            await self._receipt_for(sent, status)

    async def _receipt_for(self, sent: SandboxMessage, status: str) -> None:
        if sent.sender_instance_id is None:
            return  # sent by an outside contact: nobody to tell
        await self._enqueue(
            sent.sender_instance_id,
            "receipt",
            {
                "id": sent.client_message_id,
                "provider_message_id": sent.provider_message_id,
                "status": status,
                "recipient": person(sent.tenant_id, sent.recipient_phone).model_dump(),
            },
        )

    async def read(self, caller: WorkerCaller, message_ids: list[str]) -> None:
        for provider_message_id in message_ids:
            sent = await self.repository.message(provider_message_id)
            if sent is not None and sent.recipient_instance_id == caller.instance_id:
                await self._receipt(provider_message_id, "read")

    async def presence(self, caller: WorkerCaller, chat: str, state: str) -> None:
        peer = await self._sandbox_number(caller.tenant_id, _phone_of(chat))
        if peer is not None and peer.id != caller.instance_id:
            me = person(caller.tenant_id, caller.phone)
            await self._enqueue(peer.id, "presence", {"chat": me.jid, "from": me.model_dump(), "state": state})

    def check_contacts(self, caller: WorkerCaller, phones: list[str]) -> list[dict[str, Any]]:
        results = []
        for phone in phones:
            try:
                found = person(caller.tenant_id, normalize_phone(phone))
            except ValueError:
                results.append({"phone": phone, "on_whatsapp": False, "jid": None, "lid": None})
                continue
            results.append({"phone": found.phone, "on_whatsapp": True, "jid": found.jid, "lid": found.lid})
        return results

    async def logout(self, caller: WorkerCaller) -> None:
        await self.repository.delete_device(caller.instance_id)

    # -- the phone's and the outside world's side -----------------------------------------------------

    async def _instance(self, principal: Principal, reference: str) -> Instance:
        try:
            instance = await instance_service.get(self.session, principal, reference)
        except NotFound:
            raise NotASandboxInstance(f"No sandbox instance {reference!r}.") from None
        if instance.provider is not Provider.sandbox:
            raise NotASandboxInstance(f"Instance {instance.id} uses the {instance.provider} provider, not sandbox.")
        return instance

    async def link(self, principal: Principal, code: str, kind: str) -> Instance:
        """Play the phone that scans a QR or types a pair code: link a new device to the number."""
        lookup = code if kind == "qr" else code.replace("-", "").replace(" ", "").upper()
        link = await self.repository.link(lookup)
        if link is None or link.kind != kind or not principal.can_see_tenant(link.tenant_id):
            raise LinkNotFound("Use the QR or code the instance shows now.")
        if link.expires_at <= utcnow():
            raise LinkExpired("Fetch the current QR (or a new pair code) and try again.")
        instance = await self._instance(principal, link.instance_id)
        device_secret = secrets.token_urlsafe(32)
        device = SandboxDevice(
            instance_id=instance.id,
            tenant_id=instance.tenant_id,
            phone=instance.phone_number,
            device_id=new_id("dev"),
            secret_hash=_secret_hash(device_secret),
        )
        await self.repository.replace_device(device)
        # Used: every offer of this instance ends now (a second scan of the same QR is told it expired).
        await self.repository.expire_links(instance.id, "qr", now=utcnow())
        await self.repository.expire_links(instance.id, "code", now=utcnow())
        # Whatever the network held about an earlier device is void for the new one.
        await self.repository.delete_items(instance.id, kinds=["paired", "unlinked", "drop"])
        await self._enqueue(
            instance.id,
            "paired",
            {
                "session": {"device_id": device.device_id, "device_secret": device_secret},
                "me": person(instance.tenant_id, instance.phone_number).model_dump(),
            },
        )
        return instance

    async def inbound(self, principal: Principal, data: InboundMessage) -> str:
        instance = await self._instance(principal, data.instance)
        try:
            sender_phone = normalize_phone(data.sender)
        except ValueError as exc:
            raise HubInvalidRecipient(f"`from` is not a phone number: {exc}.") from None
        provider_message_id = "SBX" + secrets.token_hex(10).upper()
        await self.repository.add_message(
            SandboxMessage(
                provider_message_id=provider_message_id,
                tenant_id=instance.tenant_id,
                sender_instance_id=None,
                sender_phone=sender_phone,
                recipient_phone=instance.phone_number,
                recipient_instance_id=instance.id,
            )
        )
        body = data.model_dump(mode="json", exclude_none=True, exclude={"instance", "sender", "push_name"})
        if not data.voice_note:
            body.pop("voice_note", None)
        await self._deliver(instance.id, instance.tenant_id, sender_phone, data.push_name, provider_message_id, body)
        return provider_message_id

    async def inbound_many(self, principal: Principal, messages: Sequence[InboundMessage]) -> list[str]:
        """Several inbound messages in one transaction, in the order given."""
        instances = {message.instance: await self._instance(principal, message.instance) for message in messages}
        # Mailboxes locked in one order by every batch: two batches naming the same numbers in other orders must not
        # wait for each other's locks (a deadlock).
        for instance_id in sorted({instance.id for instance in instances.values()}):
            await self.repository.lock_mailbox(instance_id)
        return [await self.inbound(principal, message) for message in messages]

    async def unlink(self, principal: Principal, reference: str, reason: str | None) -> Instance:
        instance = await self._instance(principal, reference)
        await self.repository.delete_device(instance.id)
        await self._enqueue(instance.id, "unlinked", {"reason": reason or "device_removed"})
        return instance

    async def drop(self, principal: Principal, reference: str, reason: str | None) -> Instance:
        instance = await self._instance(principal, reference)
        await self._enqueue(instance.id, "drop", {"reason": reason or "connection_lost"})
        return instance
