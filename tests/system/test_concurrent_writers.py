"""Many writers at once: cursors over sequence numbers never skip a row that commits late (PostgreSQL above all)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support.gateway import Gateway, Tenant, wait_for

SENDERS = 8
PER_SENDER = 25


def _send_inbound(gateway: Gateway, tenant: Tenant, instance_ids: list[str], sender: int) -> None:
    for n in range(PER_SENDER):
        response = gateway.http.post(
            "/api/sandbox/inbound",
            json={
                "instance": instance_ids[(sender + n) % len(instance_ids)],
                "from": f"+49151000000{sender:02d}",
                "type": "text",
                "text": f"s{sender}-{n}",
            },
            headers=tenant.headers,
        )
        assert response.status_code == 202, response.text


def test_concurrent_inbound_messages_all_arrive_and_a_cursor_reader_misses_none(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    instances = [gateway.new_instance(tenant, f"+1415555060{n}")["id"] for n in range(3)]
    for instance_id in instances:
        gateway.pair(tenant, instance_id)
    start = gateway.http.get("/api/events", params={"limit": 1}, headers=tenant.headers).json()["resume_cursor"]

    # A reader walks the tenant's events by cursor while they are written, as a resuming client does.
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        cursor = start
        while not stop.is_set() or cursor is not None:
            page = gateway.http.get(
                "/api/events",
                params={"type": "message.received", "limit": 50, "cursor": cursor},
                headers=tenant.headers,
            ).json()
            seen.extend(e["data"]["text"] for e in page["data"])
            cursor = page["resume_cursor"]
            if not page["data"] and stop.is_set():
                return

    reader = threading.Thread(target=read)
    reader.start()
    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(lambda s: _send_inbound(gateway, tenant, instances, s), range(SENDERS)))
    expected = {f"s{s}-{n}" for s in range(SENDERS) for n in range(PER_SENDER)}

    # Every message sent concurrently to the same numbers arrives (none deleted unread from a mailbox) ...
    def received() -> set[str]:
        texts: set[str] = set()
        for instance_id in instances:
            texts |= {e["data"]["text"] for e in gateway.events(tenant, instance_id, "message.received")}
        return texts

    wait_for(lambda: received() == expected, timeout=60, what="every concurrent inbound message")
    # ... and the reader, which never re-read anything, saw each exactly once.
    stop.set()
    reader.join(timeout=30)
    assert sorted(seen) == sorted(expected)
