"""Meta's webhook payloads → the gateway's normalized events (docs/worker-protocol.md §6 is the contract).

Meta delivers at least once, batched and unordered; each event's id is derived from what it reports (the message id,
or the message id and status), so a redelivery is recognised and dropped by the event store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import structlog

from whatsapp_gateway.waba.build import MEDIA_KINDS

log = structlog.get_logger(__name__)

STATUSES = {"sent", "delivered", "read", "played", "failed"}


@dataclass(frozen=True)
class InboundEvent:
    id: str
    type: str
    timestamp: dt.datetime
    data: dict[str, Any]


def event_id(*parts: str) -> str:
    return "evt_waba_" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def events_of(payload: dict[str, Any], phone_number_id: str) -> list[InboundEvent]:
    """The events in one webhook POST that concern the number `phone_number_id` (others are skipped)."""
    found: list[InboundEvent] = []
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            metadata = _dict(value.get("metadata"))
            if str(metadata.get("phone_number_id")) != phone_number_id:
                log.warning("waba_webhook_other_number", phone_number_id=metadata.get("phone_number_id"))
                continue
            names = {
                str(c.get("wa_id")): c.get("profile", {}).get("name")
                for c in _dicts(value.get("contacts"))
                if isinstance(c.get("profile"), dict)
            }
            for message in _dicts(value.get("messages")):
                event = _message_event(message, names)
                if event is not None:
                    found.append(event)
            for status in _dicts(value.get("statuses")):
                event = _status_event(status)
                if event is not None:
                    found.append(event)
    return found


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _timestamp(value: object) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(str(value)), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return dt.datetime.now(dt.UTC)


def _person(phone: str, name: object = None) -> dict[str, Any]:
    person: dict[str, Any] = {"phone": phone, "jid": f"{phone}@s.whatsapp.net", "lid": None}
    if isinstance(name, str) and name:
        person["push_name"] = name
    return person


def _message_event(message: dict[str, Any], names: dict[str, Any]) -> InboundEvent | None:
    wamid, sender, kind = message.get("id"), message.get("from"), message.get("type")
    if not isinstance(wamid, str) or not isinstance(sender, str) or not isinstance(kind, str):
        log.warning("waba_message_skipped", reason="no id, from or type")
        return None
    timestamp = _timestamp(message.get("timestamp"))
    person = _person(sender, names.get(sender))
    chat = person["jid"]
    content = _dict(message.get(kind))
    if kind == "reaction":
        data = {
            "id": wamid,
            "message_id": content.get("message_id"),
            "chat": chat,
            "from": person,
            "emoji": content.get("emoji") or "",
            "timestamp": timestamp.isoformat(),
            "is_group": False,
        }
        return InboundEvent(event_id(wamid), "message.reaction", timestamp, data)
    data = {"id": wamid, "chat": chat, "from": person, "type": kind, "timestamp": timestamp.isoformat()}
    context = message.get("context")
    if isinstance(context, dict):
        if isinstance(context.get("id"), str):
            data["reply_to"] = context["id"]
        if context.get("forwarded") or context.get("frequently_forwarded"):
            data["forwarded"] = True
    if kind == "text":
        data["text"] = content.get("body", "")
    elif kind in MEDIA_KINDS:
        media_id = str(content.get("id", ""))
        media: dict[str, Any] = {"mimetype": content.get("mime_type"), "sha256": content.get("sha256")}
        for key in ("caption", "filename", "voice", "animated"):
            if content.get(key) is not None:
                media[key] = content[key]
        if media_id:
            # The worker-relative form, which the event store turns into `/api/instances/{id}/media/{media_id}`.
            media["download"] = f"/v1/media/{media_id}"
        data["media"] = media
        if content.get("caption"):
            data["text"] = content["caption"]
    elif kind == "location":
        data["location"] = {k: content.get(k) for k in ("latitude", "longitude", "name", "address") if k in content}
    elif kind == "contacts":
        data["type"] = "contact"
        contacts = _dicts(message.get("contacts"))
        if contacts:
            first = contacts[0]
            name = _dict(first.get("name"))
            data["contact"] = {
                "name": name.get("formatted_name"),
                "phones": [p.get("phone") for p in _dicts(first.get("phones"))],
            }
    elif kind == "interactive":
        reply_kind = content.get("type")
        reply = content.get(reply_kind) if isinstance(reply_kind, str) else None
        if isinstance(reply, dict):
            data["interactive"] = {"type": reply_kind, **{k: reply.get(k) for k in ("id", "title", "description")}}
            data["text"] = reply.get("title")
    elif kind == "button":
        data["button"] = {"payload": content.get("payload"), "text": content.get("text")}
        data["text"] = content.get("text")
    elif "errors" in message:
        data["errors"] = _errors(message.get("errors"))
    data["is_group"] = False
    return InboundEvent(event_id(wamid), "message.received", timestamp, data)


def _errors(value: object) -> list[dict[str, Any]]:
    out = []
    for error in _dicts(value):
        details = _dict(error.get("error_data")).get("details")
        out.append({"code": error.get("code"), "title": error.get("title") or error.get("message"), "details": details})
    return out


def _status_event(status: dict[str, Any]) -> InboundEvent | None:
    wamid, state, recipient = status.get("id"), status.get("status"), status.get("recipient_id")
    if not isinstance(wamid, str) or state not in STATUSES:
        return None  # `deleted`, `warning` and the like have no place in the normalized statuses
    timestamp = _timestamp(status.get("timestamp"))
    data: dict[str, Any] = {
        "provider_message_id": wamid,
        "status": state,
        "recipient": _person(str(recipient)) if recipient else None,
    }
    if state == "failed":
        errors = _errors(status.get("errors"))
        data["errors"] = errors
        first = errors[0] if errors else {}
        data["error"] = f"{first.get('code')}: {first.get('title')}" + (
            f" ({first['details']})" if first.get("details") else ""
        )
    for key in ("pricing", "conversation"):
        if isinstance(status.get(key), dict):
            data[key] = status[key]
    if isinstance(status.get("biz_opaque_callback_data"), str):
        data["callback_data"] = status["biz_opaque_callback_data"]
    return InboundEvent(event_id(wamid, state), "message.status", timestamp, data)
