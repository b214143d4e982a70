"""Two control planes on one database: one reconciles, the other stands by and takes over when the first dies."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.support.gateway import wait_for, worker_pids
from tests.support.live import started_gateway
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
