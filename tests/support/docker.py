"""A synchronous look at a Docker engine for tests: what the runtime did, checked from outside it."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from tests.support.gateway import Gateway, wait_for

CLUSTER_LABEL = "io.wagw.cluster"
INSTANCE_LABEL = "io.wagw.instance"
EPOCH_LABEL = "io.wagw.epoch"


class Engine:
    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "unix":
            raise ValueError("tests reach engines by unix socket")
        self.endpoint = endpoint
        self.http = httpx.Client(
            base_url="http://docker/v1.41", transport=httpx.HTTPTransport(uds=parts.path), timeout=60
        )

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.http.close()

    def ping(self) -> None:
        self.http.get("/_ping", timeout=3).raise_for_status()

    def image_exists(self, image: str) -> bool:
        return self.http.get(f"/images/{quote(image, safe='')}/json").status_code == 200

    def containers(
        self, cluster: str, instance_id: str | None = None, *, running_only: bool = False
    ) -> list[dict[str, Any]]:
        labels = [f"{CLUSTER_LABEL}={cluster}"] + ([f"{INSTANCE_LABEL}={instance_id}"] if instance_id else [])
        response = self.http.get(
            "/containers/json",
            params={"all": "false" if running_only else "true", "filters": json.dumps({"label": labels})},
        )
        response.raise_for_status()
        return list(response.json())

    def inspect(self, ref: str) -> dict[str, Any]:
        response = self.http.get(f"/containers/{ref}/json")
        response.raise_for_status()
        return dict(response.json())

    def kill(self, ref: str) -> None:
        self.http.post(f"/containers/{ref}/kill").raise_for_status()

    def run_detached(self, name: str, body: dict[str, Any]) -> str:
        created = self.http.post("/containers/create", params={"name": name}, json=body)
        created.raise_for_status()
        ref = str(created.json()["Id"])
        self.http.post(f"/containers/{ref}/start").raise_for_status()
        return ref

    def exists(self, ref: str) -> bool:
        return self.http.get(f"/containers/{ref}/json").status_code == 200

    def memory_usage_bytes(self, ref: str) -> int:
        stats = self.http.get(f"/containers/{ref}/stats", params={"stream": "false", "one-shot": "true"}).json()
        memory = stats.get("memory_stats", {})
        # Like `docker stats`: usage minus the page cache the kernel can drop.
        cache = memory.get("stats", {}).get("total_inactive_file", memory.get("stats", {}).get("inactive_file", 0))
        return int(memory.get("usage", 0)) - int(cache)

    def remove_cluster(self, cluster: str) -> None:
        for container in self.containers(cluster):
            self.http.delete(f"/containers/{container['Id']}", params={"force": "true"})
        volumes = self.http.get("/volumes", params={"filters": json.dumps({"label": [f"{CLUSTER_LABEL}={cluster}"]})})
        for volume in volumes.json().get("Volumes") or []:
            self.http.delete(f"/volumes/{volume['Name']}", params={"force": "true"})


def register_node(gateway: Gateway, name: str, endpoint: str, *, bridge_ip: str, **fields: Any) -> dict[str, Any]:
    """Register an engine of this host as if it were another host: its workers' ports are published on 127.0.0.1
    (`advertise_address`), and they call the gateway through their own bridge (`bridge_ip`). Waits until the
    gateway's health check reaches it."""
    port = gateway.server.base_url.rsplit(":", 1)[1]
    body = {
        "name": name,
        "endpoint": endpoint,
        "advertise_address": "127.0.0.1",
        "gateway_url": f"http://{bridge_ip}:{port}",
        **fields,
    }
    created = gateway.http.post("/api/nodes", json=body, headers=gateway.operator)
    assert created.status_code == 201, created.text
    return wait_for(
        lambda: (n := gateway.http.get(f"/api/nodes/{name}", headers=gateway.operator).json())["reachable"] and n,
        timeout=15,
        what=f"node {name} to be reachable",
    )
