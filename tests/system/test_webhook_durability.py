"""`kill -9` of the control plane in the middle of a stream of inbound messages: no webhook event is lost."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.support.gateway import wait_for
from tests.support.live import started_gateway
from tests.support.receiver import running_receiver

MESSAGES = 1000
INSTANCES = 2


def test_a_control_plane_killed_mid_stream_delivers_every_event_after_its_restart(
    data_dir: Path, gateway_env: dict[str, str], record_property: pytest.RecordProperty
) -> None:
    env = {**gateway_env, "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
    with running_receiver() as receiver:
        with started_gateway(data_dir, env) as gateway:
            tenant = gateway.new_tenant()
            instances = [gateway.new_instance(tenant, f"+1415555050{n}") for n in range(INSTANCES)]
            for instance in instances:
                gateway.pair(tenant, instance["id"])
            endpoint = gateway.http.post(
                "/api/webhooks", json={"url": receiver.url, "event_types": ["message.received"]}, headers=tenant.headers
            )
            assert endpoint.status_code == 201, endpoint.text
            secret = endpoint.json()["secret"]
            for start in range(0, MESSAGES, 100):
                batch = [
                    {
                        "instance": instances[n % INSTANCES]["id"],
                        "from": "+4915100000001",
                        "type": "text",
                        "text": f"{n:04d}",
                    }
                    for n in range(start, start + 100)
                ]
                response = gateway.http.post(
                    "/api/sandbox/inbound/batch", json={"messages": batch}, headers=tenant.headers
                )
                assert response.status_code == 202, response.text
            # Killed while deliveries flow (and while workers may still be reporting what they received).
            wait_for(lambda: len(receiver.accepted()) >= 150, timeout=60, what="deliveries to be under way")
            port = int(gateway.server.base_url.rsplit(":", 1)[1])
            gateway.server.process.send_signal(signal.SIGKILL)
            gateway.server.process.wait()
        delivered_before_kill = len(receiver.accepted())
        assert delivered_before_kill < MESSAGES, "the kill came too late to prove anything"

        with started_gateway(data_dir, env, port=port):
            wait_for(
                lambda: len({r.webhook_id for r in receiver.accepted()}) >= MESSAGES,
                timeout=120,
                what=f"all {MESSAGES} distinct events at the receiver",
            )

    accepted = receiver.accepted()
    counts = Counter(r.webhook_id for r in accepted)
    duplicates = sum(n - 1 for n in counts.values())
    texts = [r.verify(secret)["data"]["text"] for r in accepted]
    assert sorted(set(texts)) == [f"{n:04d}" for n in range(MESSAGES)]
    assert len(counts) == MESSAGES
    # At-least-once: what a crash makes go out twice is counted and reported, never silently absorbed.
    record_property("webhook_duplicates_after_kill", duplicates)
    print(f"\n{MESSAGES} events, {len(accepted)} deliveries, {duplicates} duplicates after kill -9")  # noqa: T201
    # Within an instance, first arrivals keep the order the messages were received in.
    for index, instance in enumerate(instances):
        first_seen: list[str] = []
        for request in accepted:
            event = request.event
            if event["instance"] == instance["id"] and event["data"]["text"] not in first_seen:
                first_seen.append(event["data"]["text"])
        assert first_seen == [f"{n:04d}" for n in range(index, MESSAGES, INSTANCES)]
