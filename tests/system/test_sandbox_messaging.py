"""Two sandbox numbers, paired through the API, message each other end to end through real workers."""

from __future__ import annotations

import base64
import hashlib

from tests.support.gateway import TINY_PNG, Gateway, wait_for


def test_pair_by_qr_then_text_and_image_with_receipts(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    a = gateway.new_instance(tenant, "+14155550101", name="A")
    b = gateway.new_instance(tenant, "+14155550102", name="B")

    png = gateway.http.get(f"/api/instances/{a['id']}/qr", headers=tenant.headers)
    png = wait_for(
        lambda: (
            (r := gateway.http.get(f"/api/instances/{a['id']}/qr", headers=tenant.headers)).status_code == 200 and r
        ),
        timeout=15,
        what="A's QR as PNG",
    )
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = gateway.http.get(f"/api/instances/{a['id']}/qr", params={"format": "svg"}, headers=tenant.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content

    connected_a = gateway.pair(tenant, a["id"])
    connected_b = gateway.pair(tenant, b["id"])
    assert connected_a["status"] == "running"
    assert connected_a["account"]["phone"] == "14155550101"
    assert connected_a["account"]["lid"].endswith("@lid")
    assert connected_b["account"]["jid"] == "14155550102@s.whatsapp.net"
    assert gateway.http.get(f"/api/instances/{a['id']}/qr", headers=tenant.headers).json()["code"] == (
        "already_connected"
    )

    text = gateway.send(tenant, a["id"], {"to": "+1 415 555 0102", "type": "text", "text": "hello B"})
    assert text.status_code == 202, text.text
    assert text.json()["status"] == "sent"
    image = gateway.send(
        tenant,
        a["id"],
        {
            "to": "14155550102",
            "type": "image",
            "media": {"base64": base64.b64encode(TINY_PNG).decode(), "mimetype": "image/png", "caption": "a dot"},
        },
    )
    assert image.status_code == 202, image.text

    received = wait_for(
        lambda: len(r := gateway.events(tenant, b["id"], "message.received")) >= 2 and r,
        timeout=15,
        what="B to receive both messages",
    )
    by_type = {event["data"]["type"]: event["data"] for event in received}
    assert by_type["text"]["text"] == "hello B"
    assert by_type["text"]["from"]["phone"] == "14155550101"
    assert by_type["text"]["from"]["lid"] == connected_a["account"]["lid"]
    media = by_type["image"]["media"]
    assert media["sha256"] == hashlib.sha256(TINY_PNG).hexdigest()
    assert media["caption"] == "a dot"
    downloaded = gateway.http.get(media["download"], headers=tenant.headers)
    assert downloaded.status_code == 200
    assert downloaded.content == TINY_PNG
    assert downloaded.headers["content-type"] == "image/png"

    message_id = text.json()["id"]
    wait_for(
        lambda: gateway.message(tenant, a["id"], message_id)["status"] == "delivered",
        timeout=15,
        what="A's text to be delivered",
    )
    read = gateway.http.post(
        f"/api/instances/{b['id']}/read",
        json={"chat": "14155550101", "message_ids": [by_type["text"]["id"]]},
        headers=tenant.headers,
    )
    assert read.status_code == 204, read.text
    final = wait_for(
        lambda: (m := gateway.message(tenant, a["id"], message_id))["status"] == "read" and m,
        timeout=15,
        what="A's text to be read",
    )
    assert final["sent_at"] <= final["delivered_at"] <= final["read_at"]
    statuses = [
        e["data"]["status"] for e in gateway.events(tenant, a["id"], "message.status") if e["data"]["id"] == message_id
    ]
    assert statuses == ["delivered", "read"]
    # The image was delivered too, and never read.
    assert gateway.message(tenant, a["id"], image.json()["id"])["status"] == "delivered"


def test_pair_code_inbound_contacts_and_presence(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    a = gateway.new_instance(tenant, "+14155550111")
    b = gateway.new_instance(tenant, "+14155550112")
    gateway.wait_state(tenant, a["id"], "qr")
    code = gateway.http.post(f"/api/instances/{a['id']}/pair-code", json={}, headers=tenant.headers)
    assert code.status_code == 200, code.text
    assert len(code.json()["code"]) == 9
    assert code.json()["code"][4] == "-"
    gateway.wait_state(tenant, a["id"], "pairing")
    wrong = gateway.http.post("/api/sandbox/enter-code", json={"code": "AAAA-AAAA"}, headers=tenant.headers)
    assert wrong.status_code == 404
    assert wrong.json()["code"] == "link_not_found"
    entered = gateway.http.post("/api/sandbox/enter-code", json={"code": code.json()["code"]}, headers=tenant.headers)
    assert entered.status_code == 200, entered.text
    gateway.wait_state(tenant, a["id"], "connected")
    gateway.pair(tenant, b["id"])

    inbound = gateway.http.post(
        "/api/sandbox/inbound",
        json={"instance": a["id"], "from": "+4915112345678", "push_name": "Kim", "type": "text", "text": "hi!"},
        headers=tenant.headers,
    )
    assert inbound.status_code == 202, inbound.text
    event = wait_for(
        lambda: gateway.events(tenant, a["id"], "message.received"), timeout=15, what="the inbound message"
    )[0]
    assert event["data"]["from"]["phone"] == "4915112345678"
    assert event["data"]["from"]["push_name"] == "Kim"
    assert event["data"]["id"] == inbound.json()["provider_message_id"]

    checked = gateway.http.post(
        f"/api/instances/{a['id']}/contacts/check", json={"phones": ["+14155550112", "12"]}, headers=tenant.headers
    )
    assert checked.status_code == 200, checked.text
    results = checked.json()["results"]
    assert results[0]["on_whatsapp"] is True
    assert results[0]["jid"] == "14155550112@s.whatsapp.net"
    assert results[1]["on_whatsapp"] is False

    typing = gateway.http.post(
        f"/api/instances/{a['id']}/presence", json={"chat": "14155550112", "state": "composing"}, headers=tenant.headers
    )
    assert typing.status_code == 204, typing.text
    presence = wait_for(
        lambda: gateway.events(tenant, b["id"], "presence.update"), timeout=15, what="B to see A typing"
    )[0]
    assert presence["data"]["state"] == "composing"
    assert presence["data"]["from"]["phone"] == "14155550111"


def test_idempotency_key_never_sends_twice(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    a = gateway.new_instance(tenant, "+14155550121")
    b = gateway.new_instance(tenant, "+14155550122")
    gateway.pair(tenant, a["id"])
    gateway.pair(tenant, b["id"])
    body = {"to": "14155550122", "type": "text", "text": "exactly once"}

    first = gateway.send(tenant, a["id"], body, **{"Idempotency-Key": "order-42"})
    again = gateway.send(tenant, a["id"], body, **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = gateway.send(tenant, a["id"], {**body, "text": "something else"}, **{"Idempotency-Key": "order-42"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    via_send = gateway.http.post(
        f"/api/instances/{a['id']}/send", json={"to": "14155550122", "text": "sketch body"}, headers=tenant.headers
    )
    assert via_send.status_code == 202
    assert via_send.json()["type"] == "text"

    wait_for(lambda: len(gateway.events(tenant, b["id"], "message.received")) >= 2, timeout=15, what="both messages")
    texts = sorted(e["data"]["text"] for e in gateway.events(tenant, b["id"], "message.received"))
    assert texts == ["exactly once", "sketch body"]
    listed = gateway.http.get(f"/api/instances/{a['id']}/messages", headers=tenant.headers).json()["data"]
    assert len(listed) == 2
