"""The `docker` runtime: one hardened container per instance, on one or several Docker engines (nodes).

Each worker is a container named `wagw-<cluster>-<instance>-e<epoch>`, labelled with the cluster, instance, epoch,
tenant and provider, so that a restarted control plane finds (adopts) its workers by label and never touches another
installation's. The container gets the instance's CPU, memory and pids limits, drops every capability, cannot gain
privileges, runs as the image's non-root user on a read-only root file system, and writes only to `/tmp` (tmpfs) and
its data volume `wagw-<cluster>-<instance>` at `/data`. Docker restarts it after a crash or an engine restart
(`unless-stopped`); the reconciler replaces it when its epoch is not the current one.

Reachability (docs/runtimes.md): a node with an `advertise_address` publishes each worker's port on that address and
the control plane calls `address:published-port`; a node without one is reached at the container's own address on
its network (the control plane shares the host or the network). Workers reach the control plane at the node's
`gateway_url`, else INTERNAL_URL, else the network's gateway address on the control plane's port.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from whatsapp_gateway.runtime.base import Runtime, WorkerInfo, WorkerSpec
from whatsapp_gateway.runtime.docker_api import DockerEngine, DockerError, TLSMaterial

log = structlog.get_logger(__name__)

WORKER_PORT = 8080
DATA_MOUNT = "/data"
LABEL_CLUSTER = "io.wagw.cluster"
LABEL_INSTANCE = "io.wagw.instance"
LABEL_EPOCH = "io.wagw.epoch"
LABEL_TENANT = "io.wagw.tenant"
LABEL_PROVIDER = "io.wagw.provider"
_EXITED = re.compile(r"^Exited \((-?\d+)\)")


@dataclass(frozen=True)
class NodeConfig:
    """What the runtime needs to reach a node and place workers on it (from the `nodes` table)."""

    name: str
    endpoint: str
    tls: TLSMaterial | None
    advertise_address: str | None
    gateway_url: str | None
    network: str | None


@dataclass(frozen=True)
class DockerSettings:
    cluster: str  # names this installation's containers and volumes on shared engines
    image_for: dict[str, str]  # provider → image
    pids_limit: int
    control_plane_port: int
    internal_url: str | None
    log_max_size: str = "10m"
    log_max_files: int = 3


@dataclass
class _Container:
    node: str
    ref: str
    instance_id: str
    epoch: int
    running: bool
    created_at: dt.datetime
    exit_code: int | None
    address: str | None


class DockerRuntime:
    """A Runtime over the registered nodes. `set_nodes` gives it the current list (the node monitor calls it)."""

    name = "docker"
    multi_node = True
    # A worker that exits on its own (after POST /v1/shutdown) is restarted by the `unless-stopped` policy; one
    # stopped by `docker stop` is not, and SIGTERM is a graceful stop under the protocol.
    stops_gracefully = True
    unreachable: set[str]

    def __init__(self, settings: DockerSettings) -> None:
        self._settings = settings
        self._configs: dict[str, NodeConfig] = {}
        self._engines: dict[str, DockerEngine] = {}
        self._gateway_ips: dict[str, str] = {}
        # Nodes whose engine did not answer the last list(): their containers are unknown, not gone.
        self.unreachable: set[str] = set()

    # -- nodes -----------------------------------------------------------------------------------------------------

    async def set_nodes(self, configs: Sequence[NodeConfig]) -> None:
        wanted = {c.name: c for c in configs}
        for name in list(self._engines):
            if name not in wanted or wanted[name] != self._configs.get(name):
                engine = self._engines.pop(name)
                self._gateway_ips.pop(name, None)
                with contextlib.suppress(Exception):
                    await engine.aclose()
        self._configs = wanted

    async def _engine(self, node: str) -> DockerEngine:
        engine = self._engines.get(node)
        if engine is None:
            config = self._configs.get(node)
            if config is None:
                raise DockerError(0, f"node {node!r} is not registered")
            engine = await DockerEngine.connect(config.endpoint, tls=config.tls)
            self._engines[node] = engine
        return engine

    async def check(self, node: str) -> dict[str, object]:
        """A health check of one node: the engine's facts, or DockerError."""
        info = await (await self._engine(node)).info()
        return {
            "engine_id": info.get("ID"),
            "server_version": info.get("ServerVersion"),
            "cpus": info.get("NCPU"),
            "memory_bytes": info.get("MemTotal"),
            "containers_running": info.get("ContainersRunning"),
            "cgroup_version": info.get("CgroupVersion"),
            "os": info.get("OperatingSystem"),
        }

    async def aclose(self) -> None:
        for engine in self._engines.values():
            with contextlib.suppress(Exception):
                await engine.aclose()
        self._engines.clear()

    # -- Runtime -----------------------------------------------------------------------------------------------------

    async def start(self, spec: WorkerSpec) -> WorkerInfo:
        if spec.node is None or spec.node not in self._configs:
            raise DockerError(0, f"instance {spec.instance_id} has no node to start on ({spec.node!r})")
        # Other epochs' containers go first, on every node we reach: one instance never has two workers.
        for node in list(self._configs):
            with contextlib.suppress(DockerError):
                for old in await self._containers(node, spec.instance_id):
                    await self._remove(node, old.ref)
                if node != spec.node:  # a migration: the data left on the old node is no longer the instance's
                    await (await self._engine(node)).remove_volume(self._volume(spec.instance_id))
        engine = await self._engine(spec.node)
        config = self._configs[spec.node]
        labels = self._labels(spec.instance_id) | {
            LABEL_EPOCH: str(spec.epoch),
            LABEL_TENANT: spec.labels.get("tenant", ""),
            LABEL_PROVIDER: spec.provider,
        }
        volume = self._volume(spec.instance_id)
        await engine.create_volume(volume, self._labels(spec.instance_id))
        env = dict(spec.env)
        env.update(
            {
                "LISTEN": f"0.0.0.0:{WORKER_PORT}",
                "DATA_DIR": DATA_MOUNT,
                "GATEWAY_URL": await self._gateway_url(spec.node, engine, config),
            }
        )
        network = config.network or "bridge"
        host_config: dict[str, Any] = {
            "NetworkMode": network,
            "RestartPolicy": {"Name": "unless-stopped"},
            "SecurityOpt": ["no-new-privileges:true"],
            "CapDrop": ["ALL"],
            "ReadonlyRootfs": True,
            "Tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=64m"},  # noqa: S108 - the container's own tmpfs
            "Mounts": [{"Type": "volume", "Source": volume, "Target": DATA_MOUNT}],
            "PidsLimit": self._settings.pids_limit,
            "LogConfig": {
                "Type": "json-file",
                "Config": {"max-size": self._settings.log_max_size, "max-file": str(self._settings.log_max_files)},
            },
        }
        if spec.cpu_limit:
            host_config["NanoCpus"] = int(spec.cpu_limit * 1e9)
        if spec.memory_limit_bytes:
            # No swap beyond the limit: a worker over its memory is killed and restarted, not slowed to a crawl.
            host_config["Memory"] = spec.memory_limit_bytes
            host_config["MemorySwap"] = spec.memory_limit_bytes
        if config.advertise_address:
            host_config["PortBindings"] = {f"{WORKER_PORT}/tcp": [{"HostIp": config.advertise_address, "HostPort": ""}]}
        body = {
            "Image": self._image(spec.provider),
            "Env": [f"{key}={value}" for key, value in sorted(env.items())],
            "Labels": labels,
            "ExposedPorts": {f"{WORKER_PORT}/tcp": {}},
            "HostConfig": host_config,
            "StopSignal": "SIGTERM",
        }
        name = f"wagw-{self._settings.cluster}-{spec.instance_id}-e{spec.epoch}"
        try:
            ref = await engine.create_container(name, body)
        except DockerError as exc:
            if exc.status != 409:  # a leftover of the same name (a start retried after a crash)
                raise
            await self._remove(spec.node, name)
            ref = await engine.create_container(name, body)
        await engine.start_container(ref)
        found = await self._inspect(spec.node, ref)
        log.info("container_started", instance_id=spec.instance_id, epoch=spec.epoch, node=spec.node, ref=ref[:12])
        if found is None:
            raise DockerError(0, f"container {ref[:12]} vanished right after it started")
        return self._info(found)

    async def stop(self, instance_id: str, *, grace_seconds: float) -> int | None:
        exit_code: int | None = None
        for node in self._reachable_nodes():
            for container in await self._containers(node, instance_id):
                engine = await self._engine(node)
                if container.running:
                    await engine.stop_container(container.ref, grace_seconds=grace_seconds)
                    found = await self._inspect(node, container.ref)
                    exit_code = found.exit_code if found else None
        return exit_code

    async def kill(self, instance_id: str) -> None:
        for node in self._reachable_nodes():
            for container in await self._containers(node, instance_id):
                if container.running:
                    await (await self._engine(node)).kill_container(container.ref)

    async def list(self) -> dict[str, WorkerInfo]:
        found: dict[str, _Container] = {}
        stale: list[_Container] = []
        unreachable: set[str] = set()
        for node in list(self._configs):
            try:
                containers = await self._containers(node, None)
            except DockerError as exc:
                unreachable.add(node)
                log.warning("node_unreachable", node=node, error=str(exc))
                continue
            for container in containers:
                current = found.get(container.instance_id)
                if current is not None and current.ref == container.ref:
                    continue  # one engine registered as two nodes: the same container, seen twice
                if current is None or (container.epoch, container.running) > (current.epoch, current.running):
                    if current is not None:
                        stale.append(current)
                    found[container.instance_id] = container
                else:
                    stale.append(container)
        self.unreachable = unreachable
        for container in stale:  # an older epoch beside a newer one: fenced already, and now removed
            log.info("stale_container_removed", instance_id=container.instance_id, epoch=container.epoch)
            with contextlib.suppress(DockerError):
                await self._remove(container.node, container.ref)
        return {instance_id: self._info(c) for instance_id, c in found.items()}

    async def logs(self, instance_id: str, *, tail: int) -> builtins.list[str]:
        newest: _Container | None = None
        for node in self._reachable_nodes():
            with contextlib.suppress(DockerError):
                for container in await self._containers(node, instance_id):
                    if newest is None or container.epoch > newest.epoch:
                        newest = container
        if newest is None:
            return []
        return await (await self._engine(newest.node)).container_logs(newest.ref, tail=tail)

    async def remove(self, instance_id: str) -> None:
        for node in self._reachable_nodes():
            engine = await self._engine(node)
            for container in await self._containers(node, instance_id):
                await self._remove(node, container.ref)
            await engine.remove_volume(self._volume(instance_id))

    # -- helpers -------------------------------------------------------------------------------------------------

    def _reachable_nodes(self) -> builtins.list[str]:
        return [node for node in self._configs if node not in self.unreachable]

    def _labels(self, instance_id: str | None) -> dict[str, str]:
        labels = {LABEL_CLUSTER: self._settings.cluster}
        if instance_id is not None:
            labels[LABEL_INSTANCE] = instance_id
        return labels

    def _volume(self, instance_id: str) -> str:
        return f"wagw-{self._settings.cluster}-{instance_id}"

    def _image(self, provider: str) -> str:
        image = self._settings.image_for.get(provider)
        if image is None:
            raise DockerError(0, f"no worker image is configured for provider {provider!r}")
        return image

    async def _remove(self, node: str, ref: str) -> None:
        await (await self._engine(node)).remove_container(ref)

    async def _containers(self, node: str, instance_id: str | None) -> builtins.list[_Container]:
        engine = await self._engine(node)
        out = []
        for raw in await engine.list_containers(self._labels(instance_id)):
            labels = raw.get("Labels") or {}
            try:
                epoch = int(labels.get(LABEL_EPOCH, ""))
            except ValueError:
                continue
            running = raw.get("State") == "running"
            exited = _EXITED.match(str(raw.get("Status", "")))
            out.append(
                _Container(
                    node=node,
                    ref=str(raw["Id"]),
                    instance_id=str(labels.get(LABEL_INSTANCE)),
                    epoch=epoch,
                    running=running,
                    created_at=dt.datetime.fromtimestamp(int(raw.get("Created", 0)), tz=dt.UTC),
                    exit_code=int(exited.group(1)) if exited and not running else None,
                    address=self._address_of(node, raw.get("NetworkSettings") or {}, raw.get("Ports") or []),
                )
            )
        return out

    async def _inspect(self, node: str, ref: str) -> _Container | None:
        raw = await (await self._engine(node)).inspect_container(ref)
        if raw is None:
            return None
        labels = raw["Config"].get("Labels") or {}
        state = raw.get("State") or {}
        running = bool(state.get("Running"))
        ports: builtins.list[dict[str, Any]] = []
        for private, bindings in ((raw.get("NetworkSettings") or {}).get("Ports") or {}).items():
            for binding in bindings or []:
                ports.append(
                    {
                        "PrivatePort": int(private.split("/")[0]),
                        "IP": binding["HostIp"],
                        "PublicPort": binding["HostPort"],
                    }
                )
        return _Container(
            node=node,
            ref=str(raw["Id"]),
            instance_id=str(labels.get(LABEL_INSTANCE)),
            epoch=int(labels.get(LABEL_EPOCH, 0)),
            running=running,
            created_at=dt.datetime.fromisoformat(str(raw["Created"])[:26].rstrip("Z") + "+00:00")
            if raw.get("Created")
            else dt.datetime.now(dt.UTC),
            exit_code=None if running else int(state.get("ExitCode", 0)),
            address=self._address_of(node, raw.get("NetworkSettings") or {}, ports),
        )

    def _address_of(
        self, node: str, network_settings: dict[str, Any], ports: builtins.list[dict[str, Any]]
    ) -> str | None:
        config = self._configs.get(node)
        if config is None:
            return None
        if config.advertise_address:
            for port in ports:
                if int(port.get("PrivatePort", 0)) == WORKER_PORT and port.get("PublicPort"):
                    return f"{config.advertise_address}:{port['PublicPort']}"
            return None
        networks = network_settings.get("Networks") or {}
        attached = networks.get(config.network or "bridge") or next(iter(networks.values()), None)
        ip = (attached or {}).get("IPAddress")
        return f"{ip}:{WORKER_PORT}" if ip else None

    async def _gateway_url(self, node: str, engine: DockerEngine, config: NodeConfig) -> str:
        if config.gateway_url:
            return config.gateway_url
        if self._settings.internal_url:
            return self._settings.internal_url
        ip = self._gateway_ips.get(node)
        if ip is None:
            network = await engine.inspect_network(config.network or "bridge")
            ipam = ((network or {}).get("IPAM") or {}).get("Config") or []
            # The default bridge lists only its subnet; Docker gives the bridge the subnet's first address.
            ip = next((str(c["Gateway"]) for c in ipam if c.get("Gateway")), None) or next(
                (str(next(ipaddress.ip_network(c["Subnet"]).hosts())) for c in ipam if c.get("Subnet")), None
            )
            if ip is None:
                raise DockerError(
                    0, f"cannot tell how workers on {node!r} reach the control plane: set the node's gateway_url"
                )
            self._gateway_ips[node] = ip
        return f"http://{ip}:{self._settings.control_plane_port}"

    def _info(self, container: _Container) -> WorkerInfo:
        return WorkerInfo(
            instance_id=container.instance_id,
            epoch=container.epoch,
            running=container.running,
            ref=container.ref,
            started_at=container.created_at,
            exit_code=container.exit_code,
            node=container.node,
            address=container.address,
        )


if TYPE_CHECKING:
    # Lets mypy prove that DockerRuntime satisfies the protocol the reconciler is written against.
    _conforms: type[Runtime] = DockerRuntime
