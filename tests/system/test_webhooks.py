"""Webhooks against real receivers on loopback: retries, order, signatures, dead letters and replays, disabling."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import Gateway, Tenant, wait_for
from tests.support.live import started_gateway
from tests.support.receiver import Received, always, running_receiver

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


def test_dead_letters_are_listed_and_delivered_by_a_replay(gateway: Gateway) -> None:
    down = threading.Event()
    down.set()

    def answer(_number: int, _request: Received) -> tuple[int, dict[str, str]]:
        return (503, {}) if down.is_set() else (200, {})

    with running_receiver(answer) as receiver:
        tenant = gateway.new_tenant()
        a = gateway.new_instance(tenant, "+14155550411")
        gateway.pair(tenant, a["id"])
        since = dt.datetime.now(dt.UTC).isoformat()
        endpoint = add_endpoint(gateway, tenant, receiver.url, event_types=["message.received"])
        for n in range(5):
            gateway.inbound(tenant, a["id"], f"lost{n}")

        # Down past the last retry (the schedule here totals 1.2 s): every delivery is dead-lettered.
        dead = wait_for(
            lambda: len(d := deliveries(gateway, tenant, endpoint["id"], status="failed")) == 5 and d,
            timeout=30,
            what="five dead letters",
        )
        # The oldest was tried on every retry; those queued behind it (order holds) ran out of time waiting.
        oldest = dead[-1]
        assert oldest["attempts"] >= 2
        assert oldest["last_status_code"] == 503
        assert all("not delivered within the retry period" in d["last_error"] for d in dead)
        assert receiver.accepted() == []
        attempts_while_down = len(receiver.all())
        assert attempts_while_down >= 4  # the head was retried on the schedule before giving up

        # Back up, and nothing more is sent by itself ...
        down.clear()
        gateway.inbound(tenant, a["id"], "after")
        wait_for(lambda: texts_in_order(receiver.accepted(), a["id"]) == ["after"], timeout=20, what="a new event")

        # ... until a replay of the dead letters, which go out in their original order.
        replay = gateway.http.post(
            f"/api/webhooks/{endpoint['id']}/redeliver", json={"since": since}, headers=tenant.headers
        )
        assert replay.status_code == 202, replay.text
        assert replay.json() == {"redelivered": 5}
        wait_for(
            lambda: texts_in_order(receiver.accepted(), a["id"]) == ["after"] + [f"lost{n}" for n in range(5)],
            timeout=20,
            what="the replayed dead letters",
        )
        log = wait_for(
            lambda: _all_succeeded(deliveries(gateway, tenant, endpoint["id"])),
            timeout=10,
            what="no dead letter left",
        )
        # One delivery sent again by hand keeps its webhook-id, so a de-duplicating receiver sees it once.
        first = log[-1]
        again = gateway.http.post(
            f"/api/webhooks/{endpoint['id']}/deliveries/{first['id']}/redeliver", headers=tenant.headers
        )
        assert again.status_code == 202, again.text
        wait_for(
            lambda: [r.webhook_id for r in receiver.accepted()].count(first["event_id"]) == 2,
            timeout=20,
            what="the redelivered event",
        )


def test_a_gone_receiver_disables_its_endpoint_with_an_event_and_pending_events_wait(gateway: Gateway) -> None:
    gone = threading.Event()
    gone.set()
    all_stored = threading.Event()

    def answer(_number: int, _request: Received) -> tuple[int, dict[str, str]]:
        # The first answer waits until all three events are stored (so all three were queued for the endpoint:
        # events that come after it is disabled are not).
        all_stored.wait(timeout=20)
        return (410, {}) if gone.is_set() else (200, {})

    with running_receiver(answer) as receiver, running_receiver() as watcher:
        tenant = gateway.new_tenant()
        a = gateway.new_instance(tenant, "+14155550421")
        gateway.pair(tenant, a["id"])
        endpoint = add_endpoint(gateway, tenant, receiver.url, event_types=["message.received"])
        watching = add_endpoint(gateway, tenant, watcher.url, event_types=["webhook.endpoint_disabled"])
        for n in range(3):
            gateway.inbound(tenant, a["id"], f"m{n}")
        wait_for(lambda: len(gateway.events(tenant, a["id"], "message.received")) == 3, timeout=20, what="three events")
        all_stored.set()

        disabled = wait_for(
            lambda: not (e := _endpoint(gateway, tenant, endpoint["id"]))["enabled"] and e,
            timeout=20,
            what="the endpoint to be disabled",
        )
        assert disabled["disabled_reason"] == "gone"
        # The tenant hears of it: in its events, and on its other endpoints.
        notice = wait_for(lambda: watcher.accepted(), timeout=20, what="the disabled notice")[0]
        payload = notice.verify(watching["secret"])
        assert payload["type"] == "webhook.endpoint_disabled"
        assert payload["instance"] is None
        assert payload["data"]["endpoint"] == endpoint["id"]
        assert payload["data"]["reason"] == "gone"
        events = gateway.http.get("/api/events", params={"type": "webhook.endpoint_disabled"}, headers=tenant.headers)
        assert [e["data"]["endpoint"] for e in events.json()["data"]] == [endpoint["id"]]
        assert len(receiver.all()) == 1  # no second attempt at a receiver that said it is gone

        # Turned back on, the events that waited go out in order (new ones were not queued meanwhile).
        gone.clear()
        enabled = gateway.http.patch(f"/api/webhooks/{endpoint['id']}", json={"enabled": True}, headers=tenant.headers)
        assert enabled.status_code == 200, enabled.text
        wait_for(
            lambda: texts_in_order(receiver.accepted(), a["id"]) == ["m0", "m1", "m2"],
            timeout=20,
            what="the waiting events",
        )


def test_during_a_rotation_both_secrets_sign(gateway: Gateway) -> None:
    with running_receiver() as receiver:
        tenant = gateway.new_tenant()
        a = gateway.new_instance(tenant, "+14155550431")
        gateway.pair(tenant, a["id"])
        endpoint = add_endpoint(gateway, tenant, receiver.url, event_types=["message.received"])
        old = endpoint["secret"]
        rotated = gateway.http.post(f"/api/webhooks/{endpoint['id']}/rotate-secret", headers=tenant.headers)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old
        assert new.startswith("whsec_")
        gateway.inbound(tenant, a["id"], "rotating")
        delivered = wait_for(lambda: receiver.accepted(), timeout=20, what="a delivery")[0]
        assert delivered.headers["webhook-signature"].count("v1,") == 2
        assert delivered.verify(old)["data"]["text"] == "rotating"
        assert delivered.verify(new)["data"]["text"] == "rotating"

        # Without an overlap, only the new secret signs from then on.
        again = gateway.http.post(
            f"/api/webhooks/{endpoint['id']}/rotate-secret",
            json={"previous_secret_valid_for_seconds": 0},
            headers=tenant.headers,
        )
        newest = again.json()["secret"]
        gateway.inbound(tenant, a["id"], "rotated")
        last = wait_for(lambda: len(r := receiver.accepted()) == 2 and r[1], timeout=20, what="a second delivery")
        assert last.headers["webhook-signature"].count("v1,") == 1
        assert last.verify(newest)["data"]["text"] == "rotated"
        with pytest.raises(Exception, match="signature"):
            last.verify(new)


def _endpoint(gateway: Gateway, tenant: Tenant, endpoint_id: str) -> dict[str, Any]:
    response = gateway.http.get(f"/api/webhooks/{endpoint_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_an_endpoint_failing_for_too_long_is_disabled(data_dir: Path, gateway_env: dict[str, str]) -> None:
    # "Too long" is 2 s here (5 days by default); retries come faster than that.
    env = {
        **gateway_env,
        "WEBHOOK_DISABLE_AFTER_DAYS": str(2 / 86400),
        "WEBHOOK_RETRY_SCHEDULE": ",".join(["0.5"] * 20),
    }
    with running_receiver(always(500)) as receiver, started_gateway(data_dir, env) as gateway:
        tenant = gateway.new_tenant()
        a = gateway.new_instance(tenant, "+14155550441", webhook=receiver.url)
        gateway.pair(tenant, a["id"])
        endpoint_id = gateway.http.get("/api/webhooks", params={"instance": a["id"]}, headers=tenant.headers).json()[
            "data"
        ][0]["id"]
        disabled = wait_for(
            lambda: not (e := _endpoint(gateway, tenant, endpoint_id))["enabled"] and e,
            timeout=30,
            what="the failing endpoint to be disabled",
        )
        assert disabled["disabled_reason"] == "failing"
        assert disabled["failing_since"] is not None
        notices = gateway.http.get("/api/events", params={"type": "webhook.endpoint_disabled"}, headers=tenant.headers)
        assert notices.json()["data"][0]["data"]["reason"] == "failing"
        attempts = len(receiver.all())
        assert attempts >= 2
        # Disabled means no more attempts.
        gateway.inbound(tenant, a["id"], "unheard")
        time.sleep(1.5)
        assert len(receiver.all()) == attempts
