"""The `docker` runtime on real engines: hardened containers with the instance's limits, messaging, crashes, stale
containers, a second engine as a second node, migration between them, draining, and an engine restart."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.docker.conftest import ENGINE_2_GATEWAY_IP
from tests.support.docker import EPOCH_LABEL, INSTANCE_LABEL, Engine, register_node
from tests.support.gateway import Gateway, Tenant, wait_for
from tests.support.live import started_gateway
from tests.support.server import free_port

MiB = 1024 * 1024
OUTSIDE_CONTACT = "+4915100000001"
SECOND_ENGINE_SCRIPT = Path(__file__).resolve().parents[2] / "deploy/engines/second-engine.sh"


def _running_container(engine: Engine, cluster: str, instance_id: str, *, epoch: int | None = None) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for container in engine.containers(cluster, instance_id, running_only=True):
            if epoch is None or int(container["Labels"][EPOCH_LABEL]) == epoch:
                return container
        return None

    return wait_for(find, timeout=30, what=f"a running container for {instance_id} on {engine.endpoint}")


def _received_once(gateway: Gateway, tenant: Tenant, instance_id: str, text: str, *, what: str) -> None:
    """`text` is the one message the instance has received (not lost, not doubled)."""
    wait_for(lambda: gateway.received_texts(tenant, instance_id) == [text], timeout=15, what=what)


def _connected_on(gateway: Gateway, tenant: Tenant, instance_id: str, node: str, **expected: Any) -> dict[str, Any]:
    """The instance running and connected on `node` (a migration over), with the other fields as `expected`."""

    def settled() -> dict[str, Any] | None:
        found = gateway.instance(tenant, instance_id)
        done = found["status"] == "running" and found["node"] == node and found["connection_state"] == "connected"
        return found if done and all(found[key] == value for key, value in expected.items()) else None

    return wait_for(settled, timeout=60, what=f"{instance_id} to be connected on {node}")


def _register_second_node(gateway: Gateway, endpoint: str, **fields: Any) -> dict[str, Any]:
    return register_node(gateway, "n2", endpoint, bridge_ip=ENGINE_2_GATEWAY_IP, **fields)


def test_a_sandbox_instance_runs_in_a_hardened_container_with_its_limits(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str]
) -> None:
    gateway = docker_gateway
    tenant = gateway.new_tenant()
    a = gateway.new_instance(tenant, "+14155550601", resources={"cpu": "0.25", "memory": "128m"})
    b = gateway.new_instance(tenant, "+14155550602")

    with Engine(engines[0]) as engine:
        container = _running_container(engine, cluster, a["id"])
        inspected = engine.inspect(container["Id"])
    host = inspected["HostConfig"]
    assert host["NanoCpus"] == 250_000_000
    assert host["Memory"] == 128 * MiB
    assert host["MemorySwap"] == 128 * MiB
    assert host["PidsLimit"] == 512
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert inspected["Config"]["User"] == "10001:10001"
    labels = inspected["Config"]["Labels"]
    assert labels[INSTANCE_LABEL] == a["id"]
    assert labels["io.wagw.tenant"] == tenant.id
    assert labels[EPOCH_LABEL] == "1"
    assert [m["Destination"] for m in inspected["Mounts"]] == ["/data"]
    # The worker's secrets are in its environment only, never in labels.
    assert not any("TOKEN" in key.upper() for key in labels)

    gateway.pair(tenant, a["id"])
    gateway.pair(tenant, b["id"])
    assert gateway.instance(tenant, a["id"])["node"] == "default"
    sent = gateway.send(tenant, a["id"], {"to": "+14155550602", "type": "text", "text": "hello from a container"})
    assert sent.status_code == 202, sent.text
    gateway.inbound(tenant, a["id"], "hello container")
    wait_for(
        lambda: gateway.received_texts(tenant, b["id"]) == ["hello from a container"],
        timeout=15,
        what="B to receive A's text",
    )
    wait_for(
        lambda: gateway.received_texts(tenant, a["id"]) == ["hello container"],
        timeout=15,
        what="A to receive the inbound text",
    )
    wait_for(
        lambda: gateway.message(tenant, a["id"], sent.json()["id"])["status"] in ("delivered", "read"),
        timeout=15,
        what="A's text to be delivered",
    )
    logs = gateway.http.get(f"/api/instances/{a['id']}/logs", params={"tail": 50}, headers=tenant.headers)
    assert logs.status_code == 200
    assert "listening" in logs.text


def test_a_killed_container_is_back_and_connected_within_10_seconds(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str]
) -> None:
    gateway = docker_gateway
    tenant = gateway.new_tenant()
    instance = gateway.new_instance(tenant, "+14155550611")
    paired = gateway.pair(tenant, instance["id"])
    with Engine(engines[0]) as engine:
        container = _running_container(engine, cluster, instance["id"])
        engine.kill(container["Id"])
        killed_at = time.monotonic()
        gateway.inbound(tenant, instance["id"], "while dead")

        def connected_again() -> dict[str, Any] | None:
            now = gateway.instance(tenant, instance["id"])
            running = engine.containers(cluster, instance["id"], running_only=True)
            return now if now["connection_state"] == "connected" and running else None

        # The state flips to `disconnected` only once the control plane notices; wait for that first.
        time.sleep(0.5)
        after = wait_for(connected_again, timeout=10, what="the instance to be connected again")
        back_in = time.monotonic() - killed_at
        assert back_in < 10, f"back after {back_in:.1f}s"
    assert after["account"] == paired["account"]
    assert len(gateway.events(tenant, instance["id"], "session.qr")) == 1, "the new worker asked for a new login"
    _received_once(gateway, tenant, instance["id"], "while dead", what="the message sent while the worker was dead")


def test_a_stale_container_of_an_old_epoch_is_removed(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str]
) -> None:
    gateway = docker_gateway
    tenant = gateway.new_tenant()
    instance = gateway.new_instance(tenant, "+14155550621")
    gateway.pair(tenant, instance["id"])
    restarted = gateway.http.post(f"/api/instances/{instance['id']}/restart", headers=tenant.headers)
    assert restarted.status_code == 200
    gateway.wait_state(tenant, instance["id"], "connected")
    wait_for(lambda: gateway.instance(tenant, instance["id"])["epoch"] == 2, timeout=15, what="epoch 2")
    with Engine(engines[0]) as engine:
        current = _running_container(engine, cluster, instance["id"], epoch=2)
        # A container of epoch 1 reappears (an engine that was cut off and comes back with what it ran).
        stale = engine.run_detached(
            f"wagw-{cluster}-{instance['id']}-stale",
            {
                "Image": "wagw/sandbox-worker:dev",
                "Entrypoint": ["python3", "-c", "import time; time.sleep(120)"],
                "Labels": {"io.wagw.cluster": cluster, INSTANCE_LABEL: instance["id"], EPOCH_LABEL: "1"},
            },
        )
        wait_for(lambda: not engine.exists(stale), timeout=10, what="the stale container to be removed")
        assert engine.exists(current["Id"])
    assert gateway.instance(tenant, instance["id"])["epoch"] == 2
    assert gateway.instance(tenant, instance["id"])["connection_state"] == "connected"


def test_migration_between_two_engines_loses_and_doubles_nothing(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str]
) -> None:
    gateway = docker_gateway
    tenant = gateway.new_tenant()
    a = gateway.new_instance(tenant, "+14155550631")
    b = gateway.new_instance(tenant, "+14155550632")
    paired = gateway.pair(tenant, a["id"])
    gateway.pair(tenant, b["id"])
    # Registered once both run on `default`, so that every migration below is a real move.
    _register_second_node(gateway, engines[1])

    # Traffic both ways for the whole test: B writes to A, A writes to B, each message numbered.
    stop = threading.Event()
    to_a: list[str] = []
    from_a: list[str] = []

    def traffic() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            text = f"b-to-a-{n}"
            response = gateway.send(tenant, b["id"], {"to": "+14155550631", "type": "text", "text": text})
            assert response.status_code == 202, response.text
            to_a.append(text)
            text = f"a-to-b-{n}"
            response = gateway.send(tenant, a["id"], {"to": "+14155550632", "type": "text", "text": text})
            assert response.status_code == 202, response.text  # held while A moves, never refused
            from_a.append(text)
            n += 1
            time.sleep(0.1)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    gaps: list[float] = []
    try:
        with Engine(engines[1]) as second, Engine(engines[0]) as first:
            for target, engine in (("n2", second), ("default", first), ("n2", second)):
                started = time.monotonic()
                moved = gateway.http.post(
                    f"/api/instances/{a['id']}/migrate", json={"target_node": target}, headers=gateway.operator
                )
                assert moved.status_code == 202, moved.text
                assert moved.json()["status"] == "migrating"
                epoch = gateway.instance(tenant, a["id"])["epoch"]
                _connected_on(gateway, tenant, a["id"], target, epoch=epoch + 1)
                gaps.append(time.monotonic() - started)
                assert engine.containers(cluster, a["id"], running_only=True)
                time.sleep(1.0)
    finally:
        stop.set()
        sender.join(timeout=30)
    # The gap itself is measured by bench/bench_docker.py; here it only has to end.
    assert len(gaps) == 3

    after = gateway.instance(tenant, a["id"])
    assert after["node"] == "n2"
    assert after["account"] == paired["account"], "the session changed"
    assert len(gateway.events(tenant, a["id"], "session.qr")) == 1, "a migration asked for a new login"
    with Engine(engines[0]) as first:
        assert not first.containers(cluster, a["id"]), "the old node kept a container"
    received_by_a = wait_for(
        lambda: len(t := gateway.received_texts(tenant, a["id"])) >= len(to_a) and t,
        timeout=30,
        what="A to receive everything B sent",
    )
    try:
        received_by_b = wait_for(
            lambda: len(t := gateway.received_texts(tenant, b["id"])) >= len(from_a) and t,
            timeout=30,
            what="B to receive everything A sent (sends held during the migrations go out after)",
        )
    except AssertionError:
        got = set(gateway.received_texts(tenant, b["id"]))
        msgs = gateway.http.get(f"/api/instances/{a['id']}/messages", params={"limit": 500}, headers=tenant.headers)
        missing = [m for m in msgs.json()["data"] if m.get("text", m.get("body", {}).get("text")) not in got]
        raise AssertionError(f"missing: {missing[:5]} of {len(missing)}") from None
    assert sorted(received_by_a) == sorted(to_a), "a message to the migrating number was lost or doubled"
    assert sorted(received_by_b) == sorted(from_a), "a message from the migrating number was lost or doubled"


def test_draining_a_node_moves_its_instances_and_new_ones_avoid_it(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str]
) -> None:
    gateway = docker_gateway
    _register_second_node(gateway, engines[1], labels={"zone": "b"})
    tenant = gateway.new_tenant()
    pinned = gateway.new_instance(tenant, "+14155550641", node_selector={"zone": "b"})
    assert wait_for(lambda: gateway.instance(tenant, pinned["id"])["node"], timeout=15, what="placement") == "n2"
    gateway.pair(tenant, pinned["id"])
    unplaceable = gateway.new_instance(tenant, "+14155550642", node_selector={"zone": "nowhere"})

    drained = gateway.http.post("/api/nodes/default/drain", headers=gateway.operator)
    assert drained.status_code == 200
    assert drained.json()["status"] == "draining"
    other = gateway.new_instance(tenant, "+14155550643")
    assert wait_for(lambda: gateway.instance(tenant, other["id"])["node"], timeout=15, what="placement") == "n2"
    refused = gateway.http.delete("/api/nodes/n2", headers=gateway.operator)
    assert refused.status_code == 409
    assert refused.json()["code"] == "node_not_empty"

    # Draining n2 leaves nowhere for the instances (default is draining too): they stay where they run.
    undrain = gateway.http.patch("/api/nodes/default", json={"status": "ready"}, headers=gateway.operator)
    assert undrain.status_code == 200
    drained = gateway.http.post("/api/nodes/n2/drain", headers=gateway.operator)
    assert drained.status_code == 200
    # `other` moves to default; `pinned` must stay on a `zone: b` node, and n2 is the only one.
    assert wait_for(lambda: gateway.instance(tenant, other["id"])["node"] == "default", timeout=20, what="move")
    assert gateway.instance(tenant, pinned["id"])["node"] == "n2"
    assert gateway.instance(tenant, pinned["id"])["connection_state"] == "connected"
    placed = gateway.instance(tenant, unplaceable["id"])
    assert placed["status"] == "error"
    assert "No node can take the instance" in placed["status_reason"]


def test_every_instance_comes_back_after_its_engine_restarts(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str]
) -> None:
    gateway = docker_gateway
    _register_second_node(gateway, engines[1], labels={"zone": "b"})
    tenant = gateway.new_tenant()
    instances = [gateway.new_instance(tenant, f"+1415555065{n}", node_selector={"zone": "b"}) for n in range(3)]
    accounts = {i["id"]: gateway.pair(tenant, i["id"])["account"] for i in instances}

    subprocess.run([str(SECOND_ENGINE_SCRIPT), "stop"], check=True, timeout=60)
    try:
        wait_for(
            lambda: not gateway.http.get("/api/nodes/n2", headers=gateway.operator).json()["reachable"],
            timeout=15,
            what="n2 to be reported unreachable",
        )
    finally:
        subprocess.run([str(SECOND_ENGINE_SCRIPT), "start"], check=True, timeout=60)
    for instance in instances:
        after = gateway.wait_state(tenant, instance["id"], "connected", timeout=30)
        assert after["account"] == accounts[instance["id"]]
        assert after["node"] == "n2"
        gateway.inbound(tenant, instance["id"], "after the restart")
    for instance in instances:
        _received_once(gateway, tenant, instance["id"], "after the restart", what="a message after the engine restart")
    with Engine(engines[1]) as second:
        for instance in instances:
            assert len(second.containers(cluster, instance["id"], running_only=True)) == 1


def test_a_restarted_control_plane_adopts_its_containers_and_removes_strangers(
    data_dir: Path, docker_env: dict[str, str], cluster: str, engines: tuple[str, str]
) -> None:
    port = free_port()  # a control plane comes back on its address: its workers call that one
    with started_gateway(data_dir, docker_env, host="0.0.0.0", port=port) as gateway:  # noqa: S104 - a test host
        tenant = gateway.new_tenant()
        instance = gateway.new_instance(tenant, "+14155550661")
        paired = gateway.pair(tenant, instance["id"])
        with Engine(engines[0]) as engine:
            before = _running_container(engine, cluster, instance["id"])
    # The control plane is gone; its workers are not. Meanwhile a container of ours appears that no instance owns.
    with Engine(engines[0]) as engine:
        stranger = engine.run_detached(
            f"wagw-{cluster}-ins_stranger-e1",
            {
                "Image": "wagw/sandbox-worker:dev",
                "Entrypoint": ["python3", "-c", "import time; time.sleep(120)"],
                "Labels": {"io.wagw.cluster": cluster, INSTANCE_LABEL: "ins_stranger", EPOCH_LABEL: "1"},
            },
        )
    with started_gateway(data_dir, docker_env, host="0.0.0.0", port=port) as gateway:  # noqa: S104 - a test host
        with Engine(engines[0]) as engine:
            wait_for(lambda: not engine.exists(stranger), timeout=15, what="the stranger to be removed")
            after = gateway.instance(tenant, instance["id"])
            assert after["epoch"] == 1, "the restarted control plane replaced a worker it should have adopted"
            assert after["connection_state"] == "connected"
            assert after["account"] == paired["account"]
            assert [c["Id"] for c in engine.containers(cluster, instance["id"])] == [before["Id"]]
        gateway.inbound(tenant, instance["id"], "after the restart")
        _received_once(gateway, tenant, instance["id"], "after the restart", what="the adopted worker to receive it")


def test_instances_of_a_lost_node_start_elsewhere_and_its_stale_containers_go_when_it_returns(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str]
) -> None:
    gateway = docker_gateway
    _register_second_node(gateway, engines[1])
    tenant = gateway.new_tenant()
    instance = gateway.new_instance(tenant, "+14155550671")
    paired = gateway.pair(tenant, instance["id"])
    moved = gateway.http.post(
        f"/api/instances/{instance['id']}/migrate", json={"target_node": "n2"}, headers=gateway.operator
    )
    assert moved.status_code == 202, moved.text
    with Engine(engines[1]) as second:
        old = _running_container(second, cluster, instance["id"])
    _connected_on(gateway, tenant, instance["id"], "n2", epoch=2)

    subprocess.run([str(SECOND_ENGINE_SCRIPT), "stop"], check=True, timeout=60)
    try:
        # NODE_LOST_AFTER_SECONDS is 10 in these tests.
        moved = _connected_on(gateway, tenant, instance["id"], "default")
        assert moved["account"] == paired["account"]
        assert moved["epoch"] >= 2
    finally:
        subprocess.run([str(SECOND_ENGINE_SCRIPT), "start"], check=True, timeout=60)
    with Engine(engines[1]) as second:
        wait_for(lambda: not second.exists(old["Id"]), timeout=30, what="the stale container on n2 to be removed")
    assert gateway.instance(tenant, instance["id"])["node"] == "default"
    assert len(gateway.events(tenant, instance["id"], "session.qr")) == 1


def test_a_node_reached_over_tcp_with_tls_runs_workers(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str]
) -> None:
    """The second engine also listens on tcp://127.0.0.1:2376 with --tlsverify (deploy/engines/second-engine.sh)."""
    gateway = docker_gateway
    tls_dir = Path("/var/lib/docker-n2-tls")
    tls = {name: (tls_dir / f"{name}.pem").read_text() for name in ("ca", "cert", "key")}
    port = gateway.server.base_url.rsplit(":", 1)[1]
    node = {
        "endpoint": "tcp://127.0.0.1:2376",
        "advertise_address": "127.0.0.1",
        "gateway_url": f"http://{ENGINE_2_GATEWAY_IP}:{port}",
    }
    plain = gateway.http.post("/api/nodes", json={"name": "plain", **node}, headers=gateway.operator)
    assert plain.status_code == 201, plain.text
    secured = gateway.http.post(
        "/api/nodes",
        json={"name": "secured", **node, "tls": {"ca_pem": tls["ca"], "cert_pem": tls["cert"], "key_pem": tls["key"]}},
        headers=gateway.operator,
    )
    assert secured.status_code == 201, secured.text
    assert secured.json()["tls"] is True
    assert "key_pem" not in secured.text
    ready = wait_for(
        lambda: (n := gateway.http.get("/api/nodes/secured", headers=gateway.operator).json())["reachable"] and n,
        timeout=15,
        what="the TLS node to be reachable",
    )
    assert ready["facts"]["server_version"]
    # Without the client certificate the engine refuses the connection.
    refused = wait_for(
        lambda: (n := gateway.http.get("/api/nodes/plain", headers=gateway.operator).json())["last_error"] and n,
        timeout=15,
        what="the plain-tcp node to be reported unreachable",
    )
    assert refused["reachable"] is False
    assert gateway.http.delete("/api/nodes/plain", headers=gateway.operator).status_code == 204

    tenant = gateway.new_tenant()
    instance = gateway.new_instance(tenant, "+14155550681")
    gateway.pair(tenant, instance["id"])
    moved = gateway.http.post(
        f"/api/instances/{instance['id']}/migrate", json={"target_node": "secured"}, headers=gateway.operator
    )
    assert moved.status_code == 202, moved.text
    _connected_on(gateway, tenant, instance["id"], "secured")
    with Engine(engines[1]) as second:
        assert len(second.containers(cluster, instance["id"], running_only=True)) == 1
    gateway.inbound(tenant, instance["id"], "over tls")
    _received_once(gateway, tenant, instance["id"], "over tls", what="a message on the TLS node")
