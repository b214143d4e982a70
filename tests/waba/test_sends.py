"""Every message type sent through the gateway's API reaches the fake Graph API as Meta documents it."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.support.fake_graph import FakeGraph
from tests.support.gateway import TINY_PNG
from tests.waba.conftest import WabaInstance

TO = "+1 415 555 0101"
WAMID = "wamid.HBgLMTQxNTU1NTAxMDEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "14155550101"}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "text",
        {"type": "text", "text": "Your order has shipped: https://example.com/t/1"},
        {"type": "text", "text": {"body": "Your order has shipped: https://example.com/t/1", "preview_url": True}},
    ),
    (
        "image by link",
        {"type": "image", "media": {"url": "https://example.com/parcel.jpg", "caption": "On its way"}},
        {"type": "image", "image": {"link": "https://example.com/parcel.jpg", "caption": "On its way"}},
    ),
    (
        "video by link",
        {"type": "video", "media": {"url": "https://example.com/a.mp4"}},
        {"type": "video", "video": {"link": "https://example.com/a.mp4"}},
    ),
    (
        "voice note",
        {"type": "audio", "voice_note": True, "media": {"url": "https://example.com/a.ogg"}},
        {"type": "audio", "audio": {"link": "https://example.com/a.ogg", "voice": True}},
    ),
    (
        "document",
        {"type": "document", "media": {"url": "https://example.com/a.pdf", "filename": "a.pdf", "caption": "Bill"}},
        {"type": "document", "document": {"link": "https://example.com/a.pdf", "caption": "Bill", "filename": "a.pdf"}},
    ),
    (
        "sticker",
        {"type": "sticker", "media": {"url": "https://example.com/s.webp"}},
        {"type": "sticker", "sticker": {"link": "https://example.com/s.webp"}},
    ),
    (
        "location",
        {"type": "location", "location": {"latitude": 37.48, "longitude": -122.14, "name": "HQ", "address": "1 Way"}},
        {"type": "location", "location": {"latitude": 37.48, "longitude": -122.14, "name": "HQ", "address": "1 Way"}},
    ),
    (
        "contact",
        {"type": "contact", "contact": {"name": "Jo Doe", "phones": ["+15551234567"], "email": "jo@example.com"}},
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {"formatted_name": "Jo Doe", "first_name": "Jo", "last_name": "Doe"},
                    "phones": [{"phone": "+15551234567", "type": "CELL"}],
                    "emails": [{"email": "jo@example.com", "type": "WORK"}],
                }
            ],
        },
    ),
    (
        "reaction",
        {"type": "reaction", "reaction": {"message_id": WAMID, "emoji": "👍"}},
        {"type": "reaction", "reaction": {"message_id": WAMID, "emoji": "👍"}},
    ),
    (
        "reply buttons",
        {
            "type": "interactive",
            "interactive": {
                "type": "buttons",
                "header": "Order 42",
                "body": "Deliver tomorrow?",
                "footer": "Reply below",
                "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}],
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Deliver tomorrow?"},
                "header": {"type": "text", "text": "Order 42"},
                "footer": {"text": "Reply below"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                        {"type": "reply", "reply": {"id": "no", "title": "No"}},
                    ]
                },
            },
        },
    ),
    (
        "list",
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": "Pick a slot",
                "button": "Slots",
                "sections": [{"title": "Today", "rows": [{"id": "t1", "title": "18:00", "description": "Evening"}]}],
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Pick a slot"},
                "action": {
                    "button": "Slots",
                    "sections": [
                        {"title": "Today", "rows": [{"id": "t1", "title": "18:00", "description": "Evening"}]}
                    ],
                },
            },
        },
    ),
    (
        "template",
        {
            "type": "template",
            "template": {
                "name": "order_update",
                "language": "en_US",
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "Alex"}]},
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": 0,
                        "parameters": [{"type": "payload", "payload": "P"}],
                    },
                ],
            },
        },
        {
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "Alex"}]},
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "0",
                        "parameters": [{"type": "payload", "payload": "P"}],
                    },
                ],
            },
        },
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_each_type_reaches_meta_as_documented_and_is_ours_to_query(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    waba: WabaInstance = await new_waba()
    response = await client.post(f"/api/instances/{waba.id}/messages", json={"to": TO, **body}, headers=waba.headers)
    assert response.status_code == 202, response.text
    message = response.json()
    assert message["status"] == "sent"
    assert message["provider_message_id"].startswith("wamid.")

    [sent] = fake_graph.sent(waba.number)
    assert sent == {**ENVELOPE, **expected}
    [call] = fake_graph.calls("POST", rf"/{waba.number.phone_number_id}/messages$")
    assert call.path.startswith("/v26.0/")
    assert call.headers["authorization"] == f"Bearer {waba.number.access_token}"

    queried = await client.get(f"/api/instances/{waba.id}/messages/{message['id']}", headers=waba.headers)
    assert queried.status_code == 200
    assert queried.json()["provider_message_id"] == message["provider_message_id"]


async def test_inline_media_is_uploaded_then_sent_by_id(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    media = {"base64": base64.b64encode(TINY_PNG).decode(), "mimetype": "image/png", "caption": "c"}
    response = await client.post(
        f"/api/instances/{waba.id}/messages", json={"to": TO, "type": "image", "media": media}, headers=waba.headers
    )
    assert response.status_code == 202, response.text

    [upload] = fake_graph.calls("POST", rf"/{waba.number.phone_number_id}/media$")
    assert upload.body["messaging_product"] == "whatsapp"
    assert upload.body["type"] == "image/png"
    assert upload.body["file"][1:] == ("image/png", TINY_PNG)
    [sent] = fake_graph.sent(waba.number)
    assert sent["image"]["caption"] == "c"
    assert fake_graph.media[sent["image"]["id"]].content == TINY_PNG


async def test_media_uploaded_to_meta_beforehand_is_sent_by_its_id(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    media_id = fake_graph._store_media(TINY_PNG, "image/png", waba.number.phone_number_id)
    response = await client.post(
        f"/api/instances/{waba.id}/messages",
        json={"to": TO, "type": "image", "media": {"id": media_id}, "reply_to": WAMID},
        headers=waba.headers,
    )
    assert response.status_code == 202, response.text
    [sent] = fake_graph.sent(waba.number)
    assert sent["image"] == {"id": media_id}
    assert sent["context"] == {"message_id": WAMID}


async def test_the_same_idempotency_key_sends_once(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    body = {"to": TO, "type": "text", "text": "once"}
    headers = {**waba.headers, "Idempotency-Key": "k-1"}
    first = await client.post(f"/api/instances/{waba.id}/messages", json=body, headers=headers)
    again = await client.post(f"/api/instances/{waba.id}/messages", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(fake_graph.sent(waba.number)) == 1


async def test_read_receipts_and_typing_reach_meta(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    read = await client.post(
        f"/api/instances/{waba.id}/read", json={"chat": TO, "message_ids": [WAMID]}, headers=waba.headers
    )
    assert read.status_code == 204, read.text
    typing = await client.post(
        f"/api/instances/{waba.id}/presence",
        json={"chat": TO, "state": "composing", "message_id": WAMID},
        headers=waba.headers,
    )
    assert typing.status_code == 204, typing.text
    assert fake_graph.sent(waba.number) == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": WAMID},
        {"messaging_product": "whatsapp", "status": "read", "message_id": WAMID, "typing_indicator": {"type": "text"}},
    ]
    no_message = await client.post(
        f"/api/instances/{waba.id}/presence", json={"chat": TO, "state": "composing"}, headers=waba.headers
    )
    assert no_message.status_code == 422
    assert no_message.json()["code"] == "waba_typing_needs_message"
