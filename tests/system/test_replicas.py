"""Two control planes on one database: one reconciles, the other stands by and takes over when the first dies."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.support.gateway import wait_for, worker_pids
from tests.support.live import started_gateway
from tests.support.receiver import running_receiver
from tests.support.server import free_port


def test_only_the_lease_holder_reconciles_and_a_standby_takes_over(data_dir: Path, gateway_env: dict[str, str]) -> None:
    standby_port = free_port()
    # Workers call the standby's address, as they would call a load balancer in front of both.
    env = {**gateway_env, "INTERNAL_URL": f"http://127.0.0.1:{standby_port}"}
    with started_gateway(data_dir, env) as first:
        # Let the first one take the lease before the second starts.
        time.sleep(1.0)
        with started_gateway(data_dir, env, port=standby_port) as second:
            tenant = first.new_tenant()
            instances = [first.new_instance(tenant, f"+1415555030{n}") for n in range(3)]
            for instance in instances:
                second.pair(tenant, instance["id"])
            records = {i["id"]: first.worker_record(i["id"]) for i in instances}
            for instance_id, record in records.items():
                assert worker_pids(instance_id) == [record["pid"]]
                assert first.instance(tenant, instance_id)["epoch"] == 1, "a second reconciler started a worker"

            first.server.process.send_signal(signal.SIGKILL)
            first.server.process.wait()
            # The standby takes over once the dead holder's lease has run out: it adopts the workers (no new epoch)
            # and acts on changes, here a restart.
            restarted = second.http.post(f"/api/instances/{instances[0]['id']}/restart", headers=tenant.headers)
            assert restarted.status_code == 200
            wait_for(
                lambda: second.instance(tenant, instances[0]["id"])["epoch"] == 2,
                timeout=30,
                what="the standby to reconcile",
            )
            second.wait_state(tenant, instances[0]["id"], "connected", timeout=20)
            for instance in instances[1:]:
                assert second.instance(tenant, instance["id"])["epoch"] == 1
                assert worker_pids(instance["id"]) == [records[instance["id"]]["pid"]]
            assert len(worker_pids(instances[0]["id"])) == 1


def test_two_replicas_deliver_webhooks_once_each_and_in_order(data_dir: Path, gateway_env: dict[str, str]) -> None:
    # Both run a dispatcher: they share the queues through leases, so no event goes out twice or out of order.
    second_port = free_port()
    env = {**gateway_env, "INTERNAL_URL": f"http://127.0.0.1:{second_port}", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
    with (
        running_receiver() as receiver,
        started_gateway(data_dir, env) as first,
        started_gateway(data_dir, env, port=second_port) as second,
    ):
        tenant = first.new_tenant()
        instances = [first.new_instance(tenant, f"+1415555031{n}")["id"] for n in range(4)]
        for instance_id in instances:
            second.pair(tenant, instance_id)
        created = first.http.post(
            "/api/webhooks", json={"url": receiver.url, "event_types": ["message.received"]}, headers=tenant.headers
        )
        assert created.status_code == 201, created.text
        for round_ in range(4):
            batch = [
                {
                    "instance": instances[n % 4],
                    "from": "+4915100000001",
                    "type": "text",
                    "text": f"{round_ * 50 + n:03d}",
                }
                for n in range(50)
            ]
            # Half the messages through each replica.
            replica = first if round_ % 2 else second
            response = replica.http.post("/api/sandbox/inbound/batch", json={"messages": batch}, headers=tenant.headers)
            assert response.status_code == 202, response.text
        wait_for(lambda: len(receiver.accepted()) >= 200, timeout=60, what="200 deliveries")
        time.sleep(1.5)  # a second copy of anything would come now

    accepted = receiver.accepted()
    assert len(accepted) == 200
    assert len({r.webhook_id for r in accepted}) == 200
    for index, instance_id in enumerate(instances):
        texts = [r.event["data"]["text"] for r in accepted if r.event["instance"] == instance_id]
        assert texts == [f"{r * 50 + n:03d}" for r in range(4) for n in range(50) if n % 4 == index]
