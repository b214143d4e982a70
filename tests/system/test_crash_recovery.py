"""`kill -9` of a worker and of the control plane: workers come back or are adopted, sessions and events survive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.gateway import pid_alive, wait_for, worker_pids
from tests.support.live import SECRET_KEY, started_gateway
from whatsapp_gateway.provider.tokens import worker_token


def test_a_killed_control_plane_adopts_its_workers_and_loses_no_event(
    data_dir: Path, gateway_env: dict[str, str]
) -> None:
    with started_gateway(data_dir, gateway_env) as gateway:
        tenant = gateway.new_tenant()
        a = gateway.new_instance(tenant, "+14155550211")
        b = gateway.new_instance(tenant, "+14155550212")
        gateway.pair(tenant, a["id"])
        gateway.pair(tenant, b["id"])
        records = {i: gateway.worker_record(i) for i in (a["id"], b["id"])}
        sent = []
        for n in range(10):
            response = gateway.send(tenant, a["id"], {"to": "14155550212", "type": "text", "text": f"m{n}"})
            assert response.status_code == 202, response.text
            sent.append(response.json()["id"])
        port = int(gateway.server.base_url.rsplit(":", 1)[1])
        # Killed while messages are in flight between the two workers.
        gateway.server.process.send_signal(signal.SIGKILL)
        gateway.server.process.wait()

        # The control plane is gone; the workers are not. What they report meanwhile waits in their spools.
        for record in records.values():
            assert pid_alive(record["pid"])
        time.sleep(1.5)

    # Back on the same address, as a supervisor restarts it: the workers call it there.
    with started_gateway(data_dir, gateway_env, port=port) as gateway:
        for instance_id, record in records.items():
            # Adopted, not replaced: the same process, the same epoch, and never a second worker. The disconnection
            # the worker saw while the control plane was down was spooled, and its reconnection follows.
            wait_for(
                lambda instance_id=instance_id: (
                    [e["data"]["connection_state"] for e in gateway.events(tenant, instance_id, "instance.status")][-1:]
                    == ["connected"]
                    and "disconnected"
                    in [e["data"]["connection_state"] for e in gateway.events(tenant, instance_id, "instance.status")]
                ),
                timeout=30,
                what=f"{instance_id} to report its disconnection and reconnection",
            )
            assert gateway.worker_record(instance_id)["pid"] == record["pid"]
            assert gateway.instance(tenant, instance_id)["epoch"] == record["epoch"]
            assert worker_pids(instance_id) == [record["pid"]]

        texts = wait_for(
            lambda: len(t := gateway.received_texts(tenant, b["id"])) >= len(sent) and t,
            timeout=20,
            what="B to receive every message",
        )
        assert sorted(texts) == sorted(f"m{n}" for n in range(10))
        for message_id in sent:
            wait_for(
                lambda message_id=message_id: gateway.message(tenant, a["id"], message_id)["status"] == "delivered",
                timeout=20,
                what=f"{message_id} to be delivered",
            )

        # A worker started by hand with a previous epoch's credentials is refused and exits at once.
        restarted = gateway.http.post(f"/api/instances/{a['id']}/restart", headers=tenant.headers)
        assert restarted.status_code == 200, restarted.text
        current = wait_for(
            lambda: (
                (i := gateway.instance(tenant, a["id"]))["epoch"] > records[a["id"]]["epoch"]
                and i["connection_state"] == "connected"
                and i
            ),
            timeout=30,
            what="A's restart",
        )
        new_pid = gateway.worker_record(a["id"])["pid"]
        assert worker_pids(a["id"]) == [new_pid]
        stale_epoch = current["epoch"] - 1
        stale = subprocess.run(
            [sys.executable, "-m", "sandbox_worker"],
            env={
                "PATH": os.environ["PATH"],
                "INSTANCE_ID": a["id"],
                "WORKER_EPOCH": str(stale_epoch),
                "WORKER_TOKEN": worker_token(SECRET_KEY.encode(), a["id"], stale_epoch),
                "GATEWAY_URL": gateway.server.base_url,
                "LISTEN": "127.0.0.1:0",
                "DATA_DIR": str(data_dir.parent / "stale-worker"),
                "PROVIDER_CONFIG": "{}",
            },
            capture_output=True,
            timeout=30,
        )
        assert stale.returncode == 75, stale.stdout.decode()[-2000:]
        after = gateway.instance(tenant, a["id"])
        assert after["epoch"] == current["epoch"]
        assert after["connection_state"] == "connected"
        assert worker_pids(a["id"]) == [new_pid]
