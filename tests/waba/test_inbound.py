"""Meta's webhooks at `/hooks/waba/{id}`: handshake, signature, normalized events, statuses, media through the
gateway."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx

from tests.support.fake_graph import RE_ENGAGEMENT, FakeGraph
from tests.support.gateway import TINY_PNG
from tests.waba.conftest import WabaInstance, post_signed

USER = "972987654321"


async def events(client: httpx.AsyncClient, waba: WabaInstance, type: str | None = None) -> list[dict[str, Any]]:
    params = {"type": type} if type else {}
    page = await client.get(f"/api/instances/{waba.id}/events", params=params, headers=waba.headers)
    assert page.status_code == 200, page.text
    return list(page.json()["data"])


async def test_the_handshake_answers_the_right_token_and_refuses_others(
    client: httpx.AsyncClient, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": waba.number.verify_token}
    right = await client.get(waba.hook, params=query)
    assert (right.status_code, right.text) == (200, "1158201444")
    assert right.headers["content-type"].startswith("text/plain")
    wrong = await client.get(waba.hook, params={**query, "hub.verify_token": "guess"})
    assert (wrong.status_code, wrong.json()["code"]) == (403, "waba_verify_token_mismatch")
    mode = await client.get(waba.hook, params={**query, "hub.mode": "unsubscribe"})
    assert mode.status_code == 403
    unknown = await client.get("/hooks/waba/ins_01JDQ6W9Z8K3V7Q2X4N5M6P7R8", params=query)
    assert unknown.status_code == 404


async def test_a_wrong_signature_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    payload = fake_graph.inbound(waba.number, USER, "text", {"body": "hi"})
    forged = await post_signed(client, fake_graph, waba, payload, secret="not-the-app-secret")
    assert (forged.status_code, forged.json()["code"]) == (401, "waba_signature_invalid")
    body, headers = fake_graph.signed(waba.number, payload)
    unsigned = await client.post(waba.hook, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    tampered = await client.post(waba.hook, content=body.replace(b"hi", b"ho"), headers=headers)
    assert tampered.status_code == 401
    assert await events(client, waba) == []


async def test_inbound_messages_become_normalized_events_once(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    text = fake_graph.inbound(waba.number, USER, "text", {"body": "Body Text"}, name="Dana")
    for _ in range(2):  # Meta delivers at least once
        assert (await post_signed(client, fake_graph, waba, text)).status_code == 200
    button = fake_graph.inbound(
        waba.number,
        USER,
        "interactive",
        {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}},
        context={"from": waba.number.display_phone_number, "id": "wamid.orig"},
    )
    location = fake_graph.inbound(waba.number, USER, "location", {"latitude": 37.46, "longitude": -122.21})
    reaction = fake_graph.inbound(waba.number, USER, "reaction", {"message_id": "wamid.target", "emoji": "😮"})
    for payload in (button, location, reaction):
        assert (await post_signed(client, fake_graph, waba, payload)).status_code == 200

    received = await events(client, waba, "message.received")
    assert [e["data"]["type"] for e in received] == ["text", "interactive", "location"]
    first = received[0]["data"]
    assert first["text"] == "Body Text"
    assert first["from"] == {"phone": USER, "jid": f"{USER}@s.whatsapp.net", "lid": None, "push_name": "Dana"}
    assert first["chat"] == f"{USER}@s.whatsapp.net"
    assert first["id"] == text["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert received[1]["data"]["interactive"] == {
        "type": "button_reply",
        "id": "yes",
        "title": "Yes",
        "description": None,
    }
    assert received[1]["data"]["reply_to"] == "wamid.orig"
    assert received[2]["data"]["location"] == {"latitude": 37.46, "longitude": -122.21}
    [reacted] = await events(client, waba, "message.reaction")
    assert (reacted["data"]["message_id"], reacted["data"]["emoji"]) == ("wamid.target", "😮")


async def test_another_numbers_payload_is_not_recorded_here(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    other = fake_graph.add_number()
    payload = fake_graph.inbound(other, USER, "text", {"body": "not yours"})
    assert (await post_signed(client, fake_graph, waba, payload)).status_code == 200
    assert await events(client, waba) == []


async def test_statuses_move_our_message_forward_with_pricing_and_errors(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    sent = await client.post(
        f"/api/instances/{waba.id}/messages", json={"to": USER, "type": "text", "text": "hi"}, headers=waba.headers
    )
    message = sent.json()
    wamid = message["provider_message_id"]
    for status in ("sent", "delivered", "read"):
        payload = fake_graph.status(waba.number, wamid, status, USER)
        assert (await post_signed(client, fake_graph, waba, payload)).status_code == 200
    statuses = await events(client, waba, "message.status")
    assert [e["data"]["status"] for e in statuses] == ["sent", "delivered", "read"]
    assert {e["data"]["id"] for e in statuses} == {message["id"]}
    assert statuses[1]["data"]["pricing"]["pricing_model"] == "PMP"
    queried = (await client.get(f"/api/instances/{waba.id}/messages/{message['id']}", headers=waba.headers)).json()
    assert queried["status"] == "read"
    assert queried["delivered_at"] is not None

    second = await client.post(
        f"/api/instances/{waba.id}/messages", json={"to": USER, "type": "text", "text": "late"}, headers=waba.headers
    )
    failed = fake_graph.status(
        waba.number, second.json()["provider_message_id"], "failed", USER, errors=[RE_ENGAGEMENT]
    )
    assert (await post_signed(client, fake_graph, waba, failed)).status_code == 200
    queried = (
        await client.get(f"/api/instances/{waba.id}/messages/{second.json()['id']}", headers=waba.headers)
    ).json()
    assert queried["status"] == "failed"
    assert queried["error"].startswith("131047: Re-engagement message")


async def test_inbound_media_is_fetched_through_the_gateway_without_the_token(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    payload = fake_graph.inbound_media(waba.number, USER, "image", TINY_PNG, "image/png", caption="look")
    assert (await post_signed(client, fake_graph, waba, payload)).status_code == 200
    [event] = await events(client, waba, "message.received")
    media = event["data"]["media"]
    assert media["download"].startswith(f"/api/instances/{waba.id}/media/")
    assert waba.number.access_token not in str(event)

    fetched = await client.get(media["download"], headers=waba.headers)
    assert fetched.status_code == 200
    assert fetched.content == TINY_PNG
    assert fetched.headers["content-type"] == "image/png"
    assert waba.number.access_token not in str(fetched.headers)
    # The fake saw the token on the lookup and on the download, from the gateway only.
    [download] = fake_graph.calls("GET", r"^/download/")[-1:]
    assert download.headers["authorization"] == f"Bearer {waba.number.access_token}"

    missing = await client.get(f"/api/instances/{waba.id}/media/999", headers=waba.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "media_not_found")


async def test_malformed_bodies_are_refused_without_a_500(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    for body in (
        b"not json",
        b"[1, 2]",
        b'{"entry": "x"}',
        b'{"entry": [{"changes": [{"field": "messages", "value": 3}]}]}',
    ):
        signature = "sha256=" + hmac.new(waba.number.app_secret.encode(), body, hashlib.sha256).hexdigest()
        response = await client.post(waba.hook, content=body, headers={"X-Hub-Signature-256": signature})
        assert response.status_code in (200, 400), (body, response.text)
    assert await events(client, waba) == []
