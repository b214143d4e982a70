"""The live event stream (SSE): events as they arrive, resumable with Last-Event-ID without missing any."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.support.gateway import Gateway, Tenant, wait_for


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream: one dict per event (`id`, `event`, `data`), comments skipped."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in fields:
                yield {**fields, "data": json.loads(fields["data"])}
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def read_texts(
    gateway: Gateway, tenant: Tenant, path: str, count: int, last_event_id: str | None = None
) -> tuple[list[str], str]:
    headers = {**tenant.headers, "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    texts: list[str] = []
    last = last_event_id or ""
    with gateway.http.stream(
        "GET", path, params={"type": "message.received"}, headers=headers, timeout=httpx.Timeout(30)
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in sse_events(response):
            assert event["event"] == "message.received"
            texts.append(event["data"]["data"]["text"])
            last = event["id"]
            if len(texts) == count:
                break
    return texts, last


def test_a_client_that_disconnects_and_resumes_misses_nothing(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    instance = gateway.new_instance(tenant, "+14155550501")
    gateway.pair(tenant, instance["id"])
    # Events before the stream opens are there to be resumed from with a cursor; the stream starts "now".
    for n in range(3):
        gateway.inbound(tenant, instance["id"], f"m{n}")

    first = gateway.http.get(
        f"/api/instances/{instance['id']}/events",
        params={"type": "message.received", "limit": 1},
        headers=tenant.headers,
    ).json()
    path = f"/api/instances/{instance['id']}/events"
    texts, last = read_texts(gateway, tenant, path, 2, last_event_id=first["resume_cursor"])
    assert texts == ["m1", "m2"]

    # Disconnected; meanwhile more arrive.
    for n in range(3, 8):
        gateway.inbound(tenant, instance["id"], f"m{n}")
    resumed, _ = read_texts(gateway, tenant, path, 5, last_event_id=last)
    assert resumed == [f"m{n}" for n in range(3, 8)]

    # The tenant-wide stream carries the same events.
    everything, _ = read_texts(gateway, tenant, "/api/events", 8, last_event_id="MA")
    assert everything == [f"m{n}" for n in range(8)]


def test_the_stream_delivers_events_as_they_arrive(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    instance = gateway.new_instance(tenant, "+14155550511")
    gateway.pair(tenant, instance["id"])
    gateway.inbound(tenant, instance["id"], "before the stream")
    wait_for(lambda: gateway.received_texts(tenant, instance["id"]), timeout=15, what="the first message stored")

    def write_later() -> None:
        time.sleep(1.0)
        for n in range(3):
            gateway.inbound(tenant, instance["id"], f"live-{n}")

    writer = threading.Thread(target=write_later)
    writer.start()
    try:
        # No resume point: the stream starts now, so the earlier message is not replayed.
        texts, _ = read_texts(gateway, tenant, f"/api/instances/{instance['id']}/events", 3)
    finally:
        writer.join()
    assert texts == ["live-0", "live-1", "live-2"]
