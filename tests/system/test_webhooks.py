"""Webhooks against real receivers on loopback: retries, order, signatures, dead letters and replays, disabling."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from tests.support.gateway import Gateway, Tenant, wait_for
from tests.support.receiver import Received, Receiver, always, running_receiver

# Short retries, so that "past the last retry" comes within a test: 3 retries, 1.2 s in all.
FAST_RETRIES = {"WEBHOOK_RETRY_SCHEDULE": "0.2,0.4,0.6", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}


@pytest.fixture
def gateway_env(gateway_env: dict[str, str]) -> dict[str, str]:
    return {**gateway_env, **FAST_RETRIES}


def add_endpoint(gateway: Gateway, tenant: Tenant, url: str, **fields: Any) -> dict[str, Any]:
    response = gateway.http.post("/api/webhooks", json={"url": url, **fields}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def texts_in_order(requests: list[Received], instance_id: str) -> list[str]:
    return [
        r.event["data"]["text"]
        for r in requests
        if r.event["type"] == "message.received" and r.event["instance"] == instance_id
    ]


def deliveries(gateway: Gateway, tenant: Tenant, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
        page = gateway.http.get(f"/api/webhooks/{endpoint_id}/deliveries", params=query, headers=tenant.headers)
        assert page.status_code == 200, page.text
        found.extend(page.json()["data"])
        cursor = page.json()["next_cursor"]
        if not cursor:
            return found


def test_a_receiver_that_fails_at_first_gets_every_event_signed_and_in_order(gateway: Gateway) -> None:
    # The first 5 requests fail (500, then a timeout-like 503 with Retry-After, then 429), then all succeed.
    def flaky(number: int, _request: Received) -> tuple[int, dict[str, str]]:
        if number <= 3:
            return 500, {}
        if number == 4:
            return 503, {"retry-after": "1"}
        if number == 5:
            return 429, {"retry-after": "0"}
        return 200, {}

    with running_receiver(flaky) as receiver:
        tenant = gateway.new_tenant()
        a = gateway.new_instance(tenant, "+14155550401")
        b = gateway.new_instance(tenant, "+14155550402", webhook=receiver.url)
        b_secret = b["webhook_secret"]
        endpoint = add_endpoint(gateway, tenant, receiver.url, event_types=["message.received"])
        gateway.pair(tenant, a["id"])
        gateway.pair(tenant, b["id"])
        for n in range(20):
            gateway.inbound(tenant, a["id"], f"a{n}")
            gateway.inbound(tenant, b["id"], f"b{n}")

        # The tenant-wide endpoint gets A's and B's received messages; B's own webhook gets everything of B's.
        wait_for(
            lambda: len([r for r in receiver.accepted() if r.event["type"] == "message.received"]) >= 60,
            timeout=60,
            what="every message.received to be accepted",
        )
        tenant_wide = [r for r in receiver.accepted() if _signed_by(r, endpoint["secret"])]
        own = [r for r in receiver.accepted() if _signed_by(r, b_secret)]
        # Every event arrives, each verified by the independent implementation, in order within an instance.
        assert texts_in_order(tenant_wide, a["id"]) == [f"a{n}" for n in range(20)]
        assert texts_in_order(tenant_wide, b["id"]) == [f"b{n}" for n in range(20)]
        assert texts_in_order(own, b["id"]) == [f"b{n}" for n in range(20)]
        assert {r.event["instance"] for r in own} == {b["id"]}
        assert receiver.all()[0].answered == 500  # the failures did happen

        log = wait_for(
            lambda: _all_succeeded(deliveries(gateway, tenant, endpoint["id"])),
            timeout=10,
            what="the delivery log to show every delivery succeeded",
        )
        assert len(log) == 40
        assert max(d["attempts"] for d in log) >= 2
        assert all(d["last_status_code"] == 200 and d["last_latency_ms"] is not None for d in log)


def _signed_by(request: Received, secret: str) -> bool:
    try:
        request.verify(secret)
    except Exception:
        return False
    return True


def _all_succeeded(log: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return log if log and all(d["status"] == "succeeded" for d in log) else None
