"""The runtime interface: how the reconciler starts, stops, inspects and reads the logs of workers.

A runtime knows processes or containers, never instances' rules: the reconciler decides *what* should run, a runtime
only does it and reports what it finds. Every method is idempotent, because the reconciler retries.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from whatsapp_gateway.runtime.docker import NodeConfig


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a runtime needs to start one worker."""

    instance_id: str
    epoch: int
    provider: str
    # The worker's command line; the provider registry resolves it (an executable, or `python -m …`).
    command: list[str]
    # Protocol environment (INSTANCE_ID, WORKER_TOKEN, WORKER_EPOCH, GATEWAY_URL, LISTEN, PROVIDER_CONFIG, LOG_LEVEL).
    # DATA_DIR is added by the runtime, which owns where a worker's files live.
    env: dict[str, str] = field(default_factory=dict)
    cpu_limit: float | None = None  # in cores, e.g. 0.5
    memory_limit_bytes: int | None = None
    # Where to run it, for runtimes with several nodes (docker); None elsewhere.
    node: str | None = None
    # Facts a runtime may label the worker with (`tenant`).
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerInfo:
    """What a runtime found for one instance."""

    instance_id: str
    epoch: int
    running: bool
    # Runtime-specific handle: a pid for `local`, a container id for `docker`.
    ref: str
    started_at: dt.datetime
    # Set once the worker has exited and the runtime could learn its status.
    exit_code: int | None = None
    # The node it runs on (the runtime's name for single-node runtimes).
    node: str | None = None
    # host:port the control plane reaches it at, when the runtime maps addresses (containers); None: the worker's
    # own `worker.ready` address is right.
    address: str | None = None


class Runtime(Protocol):
    name: str
    # Whether instances are placed on nodes (the scheduler chooses one) or all run here.
    multi_node: bool
    # Nodes whose engine did not answer the last `list()`: what runs there is unknown, not gone.
    unreachable: set[str]
    # Whether `stop()` alone is a graceful stop the runtime's own restarts stay out of (docker: `docker stop`, so
    # the restart policy does not bring the worker back). Otherwise the worker is asked to shut down first.
    stops_gracefully: bool

    async def set_nodes(self, configs: Sequence[NodeConfig]) -> None:
        """The registered nodes (multi-node runtimes; others ignore it)."""
        ...

    async def check(self, node: str) -> dict[str, object]:
        """A health check of one node: facts about its engine. Raises when the node cannot be reached."""
        ...

    async def aclose(self) -> None:
        """Release connections to engines (workers keep running)."""
        ...

    async def start(self, spec: WorkerSpec) -> WorkerInfo:
        """Start a worker for `spec.instance_id`. A worker of another epoch still running for it is killed first."""
        ...

    async def stop(self, instance_id: str, *, grace_seconds: float) -> int | None:
        """Stop the instance's worker: SIGTERM (or the runtime's equivalent), then kill after `grace_seconds`.

        Returns the exit code, or None when nothing was running.
        """
        ...

    async def kill(self, instance_id: str) -> None:
        """Kill the instance's worker at once (fencing, or a worker that will not stop)."""
        ...

    async def list(self) -> dict[str, WorkerInfo]:
        """Every worker this runtime knows of, running or exited-but-unreaped, by instance id.

        Survives a restart of the control plane: this is how the reconciler adopts workers it did not start.
        """
        ...

    # `builtins.list`: in this class's body, `list` is the method above (mypy reads the annotation there).
    async def logs(self, instance_id: str, *, tail: int) -> builtins.list[str]:
        """The last `tail` lines the instance's workers wrote (stdout and stderr, across restarts)."""
        ...

    async def remove(self, instance_id: str) -> None:
        """Forget the instance: kill its worker if any and delete its data directory and logs."""
        ...
