"""The images as a user runs them: the gateway in a container, hardened as in deploy/compose.yml, driving the host's
engine through its socket and running a worker container on a network it shares with it."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.docker import Engine
from tests.support.gateway import wait_for
from whatsapp_gateway.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yml"


def test_the_compose_file_names_only_real_settings_and_runs_the_gateway_hardened() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    gateway = compose["services"]["gateway"]
    known = {name.upper() for name in Settings.model_fields}
    assert set(gateway["environment"]) <= known, set(gateway["environment"]) - known
    assert gateway["environment"]["RUNTIME"] == "docker"
    assert gateway["environment"]["ENV"] == "production"
    assert gateway["read_only"] is True
    assert gateway["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in gateway["security_opt"]
    assert compose["services"]["postgres"]["image"].startswith("postgres:")


def _network(engine: Engine, name: str) -> None:
    response = engine.http.post("/networks/create", json={"Name": name, "Labels": {"io.wagw.cluster": name}})
    assert response.status_code == 201, response.text


def test_the_gateway_image_runs_workers_on_its_own_network(engines: tuple[str, str], cluster: str) -> None:
    operator = "op-" + secrets.token_urlsafe(24)
    network = f"wagw-{cluster}"
    socket_gid = os.stat("/var/run/docker.sock").st_gid
    with Engine(engines[0]) as engine:
        _network(engine, network)
        gateway_name = f"{network}-gateway"
        try:
            ref = engine.run_detached(
                gateway_name,
                {
                    "Image": "wagw/gateway:dev",
                    "Env": [
                        "ENV=production",
                        f"API_SECRET={operator}",
                        f"SECRET_KEY={secrets.token_urlsafe(32)}",
                        "RUNTIME=docker",
                        f"DOCKER_CLUSTER={cluster}",
                        f"DOCKER_NETWORK={network}",
                        f"INTERNAL_URL=http://{gateway_name}:3000",
                        "RECONCILE_INTERVAL_SECONDS=0.5",
                        "NODE_HEALTH_INTERVAL_SECONDS=1",
                    ],
                    "Labels": {"io.wagw.cluster": cluster},
                    "ExposedPorts": {"3000/tcp": {}},
                    "HostConfig": {
                        "NetworkMode": network,
                        "ReadonlyRootfs": True,
                        "CapDrop": ["ALL"],
                        "SecurityOpt": ["no-new-privileges:true"],
                        "Tmpfs": {"/tmp": "rw,size=16m"},
                        "GroupAdd": [str(socket_gid)],
                        "Binds": ["/var/run/docker.sock:/var/run/docker.sock"],
                        "PortBindings": {"3000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
                    },
                },
            )
            inspected = engine.inspect(ref)
            port = inspected["NetworkSettings"]["Ports"]["3000/tcp"][0]["HostPort"]
            assert inspected["Config"]["User"] == "10001:10001"
            base = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                try:
                    return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(healthy, timeout=60, what="the gateway container to answer")
            headers = {"Authorization": f"Bearer {operator}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as api:
                tenant = api.post("/api/tenants", json={"name": "img", "email": "img@example.com"}).json()
                created = api.post(
                    "/api/instances", json={"phone": "+14155550701", "provider": "sandbox", "tenant_id": tenant["id"]}
                )
                assert created.status_code == 201, created.text
                instance_id = created.json()["id"]

                def qr_state() -> dict[str, Any] | None:
                    found = api.get(f"/api/instances/{instance_id}").json()
                    return found if found["connection_state"] == "qr" else None

                instance = wait_for(qr_state, timeout=60, what="the worker container to show a QR")
                assert instance["node"] == "default"
                workers = engine.containers(cluster, instance_id, running_only=True)
                assert len(workers) == 1
                assert network in workers[0]["NetworkSettings"]["Networks"]

                # The gateway's image holds no worker of another language: with RUNTIME=docker they run from their
                # own images, so they are available all the same.
                providers = {p["name"]: p for p in api.get("/api/providers").json()["data"]}
                assert providers["whatsmeow"]["available"] is True, providers["whatsmeow"]
                engine_instance = api.post(
                    "/api/instances", json={"phone": "+14155550702", "provider": "whatsmeow", "tenant_id": tenant["id"]}
                )
                assert engine_instance.status_code == 201, engine_instance.text
                started = wait_for(
                    lambda: engine.containers(cluster, engine_instance.json()["id"], running_only=True),
                    timeout=60,
                    what="the whatsmeow worker's container",
                )
                assert started[0]["Image"] == "wagw/whatsmeow-worker:dev"
        finally:
            for container in engine.containers(cluster):
                engine.http.delete(f"/containers/{container['Id']}", params={"force": "true"})
            time.sleep(0.5)
            engine.http.delete(f"/networks/{network}")
