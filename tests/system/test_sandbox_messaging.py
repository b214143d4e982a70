"""Two sandbox numbers, paired through the API, message each other end to end through real workers."""

from __future__ import annotations

from tests.support.gateway import Gateway, wait_for


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
