"""Event ingestion from workers (de-duplicated, with effects) and the customers' event list."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.support.api import Api
from tests.support.workers import set_epoch


def _event(n: int, event_type: str = "instance.status", **data: object) -> dict[str, object]:
    return {"id": f"evt_test_{n}", "type": event_type, "timestamp": "2026-11-26T10:00:00Z", "data": data}


async def test_batches_are_deduplicated_and_listed_in_order(app: FastAPI, client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    worker = await set_epoch(app, instance["id"], 1)
    batch = [
        _event(1, "worker.ready", listen="127.0.0.1:4000", epoch=1),
        _event(2, connection_state="qr"),
        _event(3, "session.qr", qr="sandbox:1:x", expires_at="2026-11-26T10:01:00Z"),
        _event(3, "session.qr", qr="sandbox:1:x", expires_at="2026-11-26T10:01:00Z"),
    ]
    first = await client.post(worker.path("/events"), json={"events": batch}, headers=worker.headers)
    assert first.json() == {"accepted": 3, "duplicates": 1}
    retried = await client.post(
        worker.path("/events"),
        json={"events": [*batch[1:3], _event(4, connection_state="connected")]},
        headers=worker.headers,
    )
    assert retried.json() == {"accepted": 1, "duplicates": 2}

    shown = (await client.get(f"/api/instances/{instance['id']}", headers=tenant.headers)).json()
    assert shown["status"] == "running"
    assert shown["connection_state"] == "connected"

    page = (
        await client.get(f"/api/instances/{instance['id']}/events", params={"limit": 2}, headers=tenant.headers)
    ).json()
    # The internal worker.ready is not shown; the rest in arrival order.
    assert [e["id"] for e in page["data"]] == ["evt_test_2", "evt_test_3"]
    assert page["data"][0]["instance"] == instance["id"]
    rest = (
        await client.get(
            f"/api/instances/{instance['id']}/events", params={"cursor": page["next_cursor"]}, headers=tenant.headers
        )
    ).json()
    assert [e["id"] for e in rest["data"]] == ["evt_test_4"]
    assert rest["next_cursor"] is None
    # The resume cursor gives only what arrives later.
    await client.post(
        worker.path("/events"), json={"events": [_event(5, connection_state="disconnected")]}, headers=worker.headers
    )
    newer = (
        await client.get(
            f"/api/instances/{instance['id']}/events", params={"cursor": rest["resume_cursor"]}, headers=tenant.headers
        )
    ).json()
    assert [e["id"] for e in newer["data"]] == ["evt_test_5"]
    only_qr = (
        await client.get(
            f"/api/instances/{instance['id']}/events", params={"type": "session.qr"}, headers=tenant.headers
        )
    ).json()
    assert [e["type"] for e in only_qr["data"]] == ["session.qr"]


async def test_a_late_worker_ready_of_an_old_epoch_is_ignored(
    app: FastAPI, client: httpx.AsyncClient, api: Api
) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    worker = await set_epoch(app, instance["id"], 2)
    old_ready = _event(1, "worker.ready", listen="127.0.0.1:1111", epoch=1)
    await client.post(worker.path("/events"), json={"events": [old_ready]}, headers=worker.headers)
    assert (await client.get(f"/api/instances/{instance['id']}", headers=tenant.headers)).json()["status"] == "creating"


async def test_bad_batches_are_refused_whole(app: FastAPI, client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    worker = await set_epoch(app, instance["id"], 1)
    for events in (
        [{**_event(1), "type": "NotDotted"}],
        [{**_event(1), "timestamp": "2026-11-26T10:00:00"}],
        [{**_event(1), "id": "has space"}],
        [_event(n) for n in range(501)],
    ):
        response = await client.post(
            worker.path("/events"), json={"events": [_event(99), *events]}, headers=worker.headers
        )
        assert response.status_code == 422
    listed = (await client.get(f"/api/instances/{instance['id']}/events", headers=tenant.headers)).json()
    assert listed["data"] == []
    foreign = await api.new_tenant()
    assert (await client.get(f"/api/instances/{instance['id']}/events", headers=foreign.headers)).status_code == 404
    bad_cursor = await client.get(
        f"/api/instances/{instance['id']}/events", params={"cursor": "bm90LWEtbnVtYmVy"}, headers=tenant.headers
    )
    assert bad_cursor.json()["code"] == "invalid_cursor"


async def test_received_media_links_point_at_the_api(app: FastAPI, client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    worker = await set_epoch(app, instance["id"], 1)
    media = {"mimetype": "image/png", "size": 3, "sha256": "ab" * 32, "download": "/v1/media/m1.png"}
    event = {**_event(1, "message.received"), "data": {"id": "SBX1", "type": "image", "media": media}}
    await client.post(worker.path("/events"), json={"events": [event]}, headers=worker.headers)
    listed = (await client.get(f"/api/instances/{instance['id']}/events", headers=tenant.headers)).json()
    assert listed["data"][0]["data"]["media"]["download"] == f"/api/instances/{instance['id']}/media/m1.png"


async def test_tenant_wide_events_are_the_tenants_own(app: FastAPI, client: httpx.AsyncClient, api: Api) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    for n, tenant in enumerate((a, b)):
        instance = await api.new_instance(tenant)
        worker = await set_epoch(app, instance["id"], 1)
        await client.post(
            worker.path("/events"), json={"events": [_event(n, connection_state="qr")]}, headers=worker.headers
        )
    own = (await client.get("/api/events", headers=a.headers)).json()["data"]
    assert [e["id"] for e in own] == ["evt_test_0"]
    everyone = (await client.get("/api/events", headers=api.operator)).json()["data"]
    assert [e["id"] for e in everyone] == ["evt_test_0", "evt_test_1"]
    only_b = (await client.get("/api/events", params={"tenant_id": b.id}, headers=api.operator)).json()["data"]
    assert [e["id"] for e in only_b] == ["evt_test_1"]
    foreign = await client.get("/api/events", params={"tenant_id": b.id}, headers=a.headers)
    assert foreign.status_code == 404
