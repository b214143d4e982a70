"""The reconciler: a level-triggered loop that makes the workers a runtime runs follow the instances' desired state.

Each round compares every instance (desired state, epoch) with what the runtime reports, and acts. Actions are
idempotent and run one at a time per instance, in tasks of their own so a slow graceful stop never holds up other
instances. Nothing here trusts memory across restarts: a control plane that comes back finds running workers through
the runtime and adopts those of the current epoch; any other worker is killed, so one instance never has two.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_gateway import lease
from whatsapp_gateway.config import Settings
from whatsapp_gateway.crypto import SecretBox
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.instance.fields import memory_bytes
from whatsapp_gateway.instance.models import ConnectionState, DesiredState, Instance, InstanceStatus, Provider
from whatsapp_gateway.node import service as node_service
from whatsapp_gateway.node.models import Node, NodeStatus
from whatsapp_gateway.provider import registry
from whatsapp_gateway.provider.client import WorkerClient, WorkerTarget
from whatsapp_gateway.provider.tokens import worker_token
from whatsapp_gateway.runtime.base import Runtime, WorkerInfo, WorkerSpec

log = structlog.get_logger(__name__)

# Providers whose instances run a worker; `waba` lives in the control plane itself.
WORKER_PROVIDERS = [Provider.sandbox, Provider.whatsmeow, Provider.baileys, Provider.wawebjs]
# One replica at a time reconciles (docs/operations.md).
LEASE_NAME = "reconciler"
# A worker that ran this long without crashing has its crash count forgotten.
STABLE_AFTER = dt.timedelta(seconds=60)
# After this many crashes in a row the instance shows `error` (it is still restarted, with backoff).
CRASHES_BEFORE_ERROR = 3


def restart_delay(crashes: int, cap: float) -> float:
    """Seconds to wait before restarting a worker that crashed `crashes` times in a row.

    The first restart is immediate (one crash should cost seconds, not more), then 1 s, 2 s, 4 s … up to `cap`.
    """
    return 0.0 if crashes <= 1 else min(2.0 ** (crashes - 2), cap)


@dataclass
class CrashRecord:
    count: int = 0
    next_start_at: float = 0.0  # loop time
    last_epoch: int = -1


class Reconciler:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        runtime: Runtime,
        workers: WorkerClient,
        settings: Settings,
        secret_key: bytes,
        *,
        gateway_url: str,
        secret_box: SecretBox | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._runtime = runtime
        self._workers = workers
        self._settings = settings
        self._secret_key = secret_key
        self._gateway_url = gateway_url
        self._secret_box = secret_box or SecretBox(secret_key)
        # Multi-node runtimes: the nodes as of the last health check, by name, and when that check ran (loop time).
        self._nodes: dict[str, Node] = {}
        self._nodes_checked_at = -1e9
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._crashes: dict[str, CrashRecord] = {}
        # When each instance's last action ended (loop time). A round whose view of the runtime is older than that
        # would act on a stale picture (start a worker that was just started), so it leaves the instance alone.
        self._action_ended_at: dict[str, float] = {}
        # Stable across restarts of one replica (one port on one host can serve only one process at a time): a
        # control plane that comes back after a crash takes its lease back at once instead of waiting it out.
        self.holder = f"{socket.gethostname()}:{settings.port}"
        # Long enough to survive a slow round, short enough that a standby takes over within seconds.
        self._lease_ttl = dt.timedelta(seconds=max(10.0, 5 * settings.reconcile_interval_seconds))

    def poke(self, *, nodes_changed: bool = False) -> None:
        """Run a round now (an instance was created, started, stopped, deleted; a node was changed)."""
        if nodes_changed:
            self._nodes_checked_at = -1e9
        self._wake.set()

    async def run(self) -> None:
        log.info("reconciler_started", runtime=self._runtime.name, holder=self.holder)
        leading = False
        while True:
            try:
                holds = await lease.acquire(self._sessionmaker, LEASE_NAME, self.holder, ttl=self._lease_ttl)
                if holds != leading:
                    leading = holds
                    log.info("reconciler_lease", holding=holds, holder=self.holder)
                if holds:
                    await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.reconcile_interval_seconds)
            self._wake.clear()

    async def close(self) -> None:
        """Wait for in-flight actions (a graceful stop must not be cut in half by our own shutdown), then let a
        standby replica take over at once."""
        tasks = [t for t in self._inflight.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=self._settings.worker_stop_grace_seconds + 5)
        with contextlib.suppress(Exception):
            await lease.release(self._sessionmaker, LEASE_NAME, self.holder)

    async def reconcile_once(self) -> None:
        if self._runtime.multi_node:
            await self._check_nodes()
        observed_at = asyncio.get_running_loop().time()
        actual = await self._runtime.list()
        async with self._sessionmaker() as session:
            instances = await instance_service.list_for_reconcile(session, providers=WORKER_PROVIDERS)
        for instance in instances:
            worker = actual.pop(instance.id, None)
            if self._action_ended_at.get(instance.id, -1.0) >= observed_at:
                continue
            action = self._decide(instance, worker)
            if action is not None:
                self._launch(instance.id, action)
        # Workers of instances that no longer exist (deleted while the worker ran, or while we were down).
        for instance_id in actual:
            if self._action_ended_at.get(instance_id, -1.0) >= observed_at:
                continue
            self._launch(instance_id, lambda instance_id=instance_id: self._remove(instance_id))  # type: ignore[misc]

    def _launch(self, instance_id: str, action: Callable[[], Awaitable[None]]) -> None:
        running = self._inflight.get(instance_id)
        if running is not None and not running.done():
            return

        async def guarded() -> None:
            try:
                await action()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile_action_failed", instance_id=instance_id)
            finally:
                self._action_ended_at[instance_id] = asyncio.get_running_loop().time()
                self._wake.set()  # look again at once: the action changed what a round sees

        self._inflight[instance_id] = asyncio.create_task(guarded(), name=f"reconcile:{instance_id}")

    def _decide(self, instance: Instance, worker: WorkerInfo | None) -> Callable[[], Awaitable[None]] | None:
        busy = self._inflight.get(instance.id)
        if busy is not None and not busy.done():
            return None
        current = worker is not None and worker.epoch == instance.epoch
        if instance.desired_state is DesiredState.stopped:
            if worker is not None and worker.running:
                return lambda: self._stop(instance.id)
            if worker is not None or instance.status is not InstanceStatus.stopped:
                return lambda: self._mark_stopped(instance.id)
            return None

        if self._runtime.multi_node:
            handled, placement = self._placement(instance, worker)
            if handled:
                return placement
        if worker is not None and worker.running and current:
            if instance.restart_requested_at is not None and worker.started_at < instance.restart_requested_at:
                return lambda: self._restart(instance.id)
            address = worker.address
            if address is not None and address != instance.worker_address:
                return lambda: self._set_address(instance.id, worker.epoch, address)
            crashes = self._crashes.get(instance.id)
            if crashes is not None and utcnow() - worker.started_at > STABLE_AFTER:
                del self._crashes[instance.id]
            return None
        if worker is not None and not worker.running and current:
            self._record_crash(instance, worker)
        crashes = self._crashes.get(instance.id)
        if crashes is not None and asyncio.get_running_loop().time() < crashes.next_start_at:
            return None
        return lambda: self._start(instance.id)

    # -- nodes (multi-node runtimes) ----------------------------------------------------------------------------

    async def _check_nodes(self) -> None:
        """Give the runtime the registered nodes and check each engine, at most every NODE_HEALTH_INTERVAL."""
        now = asyncio.get_running_loop().time()
        if now - self._nodes_checked_at < self._settings.node_health_interval_seconds:
            return
        self._nodes_checked_at = now
        async with self._sessionmaker() as session:
            nodes = list(await node_service.list_all(session))
            await self._runtime.set_nodes([node_service.config_of(node, self._secret_box) for node in nodes])

            async def check(node: Node) -> tuple[Node, dict[str, object] | None, str | None]:
                try:
                    return node, await asyncio.wait_for(self._runtime.check(node.name), timeout=5.0), None
                except Exception as exc:
                    return node, None, str(exc) or type(exc).__name__

            for node, facts, error in await asyncio.gather(*(check(node) for node in nodes)):
                if node_service.record_health(node, facts=facts, error=error, now=utcnow()):
                    log.warning("node_reachability", node=node.name, reachable=error is None, error=error)
            await session.commit()
        self._nodes = {node.name: node for node in nodes}

    def _placement(
        self, instance: Instance, worker: WorkerInfo | None
    ) -> tuple[bool, Callable[[], Awaitable[None]] | None]:
        """What the instance's node asks for: (True, action or None) when the node decides, (False, None) when the
        usual rules apply."""
        node = self._nodes.get(instance.node) if instance.node else None
        lost_after = dt.timedelta(seconds=self._settings.node_lost_after_seconds)
        if node is None or node.status is NodeStatus.draining or node_service.lost(node, after=lost_after):
            return True, lambda: self._move(instance.id)
        if node.unreachable_since is not None:
            return True, None  # its worker may still serve; wait until the node is back or lost
        if worker is not None and worker.running and worker.node != instance.node:
            if worker.node in self._runtime.unreachable:
                return True, None
            return True, lambda: self._migrate(instance.id)
        return False, None

    async def _move(self, instance_id: str) -> None:
        """Place the instance on a node: the first time, or away from a draining, lost or deleted node."""
        async with self._sessionmaker() as session:
            instance = await instance_service.get_for_worker(session, instance_id)
            if instance is None:
                return
            # Fresh from the database: an operator's change (draining, cordoning) counts at once.
            nodes = list(await node_service.list_all(session))
            current = next((node for node in nodes if node.name == instance.node), None)
            try:
                chosen = node_service.choose_node(
                    nodes, await node_service.usage(session), instance, exclude=current.name if current else None
                )
            except node_service.NoNodeAvailable as exc:
                if current is None or current.unreachable_since is not None:
                    instance.status, instance.status_reason = InstanceStatus.error, exc.detail
                    await session.commit()
                log.warning("instance_unplaceable", instance_id=instance_id, reason=exc.detail)
                return
            log.info("instance_placed", instance_id=instance_id, node=chosen.name, previous=instance.node)
            if current is not None and instance.connection_state is ConnectionState.connected:
                instance.migration_started_at = utcnow()
                instance.status = InstanceStatus.migrating
            instance.node = chosen.name
            await session.commit()

    async def _migrate(self, instance_id: str) -> None:
        """The worker runs on another node than the instance's: stop it with a final state flush, start it there."""
        log.info("worker_migrating", instance_id=instance_id)
        await self._graceful_stop(instance_id)
        self._crashes.pop(instance_id, None)
        await self._start(instance_id)

    async def _set_address(self, instance_id: str, epoch: int, address: str) -> None:
        async with self._sessionmaker() as session:
            instance = await instance_service.get_for_worker(session, instance_id)
            if instance is not None and instance.epoch == epoch:
                instance.worker_address = address
                await session.commit()

    def _record_crash(self, instance: Instance, worker: WorkerInfo) -> None:
        record = self._crashes.setdefault(instance.id, CrashRecord())
        if record.last_epoch == worker.epoch:
            return  # this exit is already counted
        record.last_epoch = worker.epoch
        record.count += 1
        delay = restart_delay(record.count, self._settings.restart_backoff_max_seconds)
        record.next_start_at = asyncio.get_running_loop().time() + delay
        log.warning(
            "worker_exited",
            instance_id=instance.id,
            epoch=worker.epoch,
            exit_code=worker.exit_code,
            crashes=record.count,
            restart_in_seconds=delay,
        )

    async def _start(self, instance_id: str) -> None:
        async with self._sessionmaker() as session:
            instance = await instance_service.get_for_worker(session, instance_id)
            if instance is None or instance.desired_state is not DesiredState.running:
                return
            info = registry.get(instance.provider)
            if not info.available:
                if instance.status is not InstanceStatus.error:
                    instance.status, instance.status_reason = InstanceStatus.error, info.unavailable_reason
                    await session.commit()
                return
            crashes = self._crashes.get(instance_id)
            # The epoch is committed before the worker starts: a crash in between only wastes an epoch number,
            # and the next round starts a worker for the new one.
            instance.epoch += 1
            if crashes is not None and crashes.count >= CRASHES_BEFORE_ERROR:
                instance.status = InstanceStatus.error
                instance.status_reason = f"The worker keeps exiting ({crashes.count} times in a row); see its logs."
            else:
                instance.status = InstanceStatus.starting
            instance.connection_state = ConnectionState.starting
            instance.worker_address = None
            if not self._runtime.multi_node:
                instance.node = self._runtime.name
            elif instance.node not in self._nodes:
                return  # not placed yet: the next round places it
            await session.commit()
            spec = self._spec(instance)
        log.info(
            "worker_starting",
            instance_id=instance_id,
            epoch=spec.epoch,
            provider=instance.provider.value,
            node=spec.node,
        )
        try:
            started = await self._runtime.start(spec)
        except Exception as exc:
            # The runtime could not start it (an image missing on the node, an engine error): say why on the
            # instance, and retry with the crash backoff.
            log.warning("worker_start_failed", instance_id=instance_id, epoch=spec.epoch, error=str(exc))
            await self._start_failed(instance_id, spec.epoch, str(exc) or type(exc).__name__)
            return
        if started.address is not None:
            await self._set_address(instance_id, spec.epoch, started.address)

    async def _start_failed(self, instance_id: str, epoch: int, reason: str) -> None:
        record = self._crashes.setdefault(instance_id, CrashRecord())
        record.last_epoch = epoch
        record.count += 1
        record.next_start_at = asyncio.get_running_loop().time() + restart_delay(
            max(record.count, 2), self._settings.restart_backoff_max_seconds
        )
        async with self._sessionmaker() as session:
            instance = await instance_service.get_for_worker(session, instance_id)
            if instance is not None and instance.epoch == epoch:
                instance.status = InstanceStatus.error
                instance.status_reason = f"The worker could not be started: {reason}"[:1000]
                await session.commit()

    def _spec(self, instance: Instance) -> WorkerSpec:
        env = {
            "INSTANCE_ID": instance.id,
            "WORKER_EPOCH": str(instance.epoch),
            "WORKER_TOKEN": worker_token(self._secret_key, instance.id, instance.epoch),
            "GATEWAY_URL": self._gateway_url,
            "LISTEN": "127.0.0.1:0",
            "PROVIDER_CONFIG": json.dumps(registry.worker_config(instance.provider, self._settings)),
            "LOG_LEVEL": self._settings.log_level.lower(),
        }
        return WorkerSpec(
            instance_id=instance.id,
            epoch=instance.epoch,
            provider=instance.provider.value,
            command=registry.worker_command(instance.provider) if not self._runtime.multi_node else [],
            node=instance.node if self._runtime.multi_node else None,
            labels={"tenant": instance.tenant_id},
            env=env,
            cpu_limit=float(instance.cpu_limit),
            memory_limit_bytes=memory_bytes(instance.memory_limit),
        )

    async def _graceful_stop(self, instance_id: str) -> None:
        async with self._sessionmaker() as session:
            instance = await instance_service.get_for_worker(session, instance_id)
            target = WorkerTarget(instance_id, instance.epoch, instance.worker_address) if instance else None
        if target is not None and target.address and not self._runtime.stops_gracefully:
            # Ask first, so the worker persists its state and flushes its spool; the runtime's SIGTERM and, after
            # the grace period, SIGKILL follow whether or not it answered.
            try:
                await self._workers.request(target, "POST", "/v1/shutdown", json={"reason": "stop"}, timeout=3.0)
            except Exception as exc:
                log.info("worker_shutdown_request_failed", instance_id=instance_id, error=repr(exc))
        await self._runtime.stop(instance_id, grace_seconds=self._settings.worker_stop_grace_seconds)

    async def _stop(self, instance_id: str) -> None:
        log.info("worker_stopping", instance_id=instance_id)
        await self._graceful_stop(instance_id)
        await self._mark_stopped(instance_id)

    async def _restart(self, instance_id: str) -> None:
        log.info("worker_restarting", instance_id=instance_id)
        await self._graceful_stop(instance_id)
        self._crashes.pop(instance_id, None)
        await self._start(instance_id)

    async def _mark_stopped(self, instance_id: str) -> None:
        async with self._sessionmaker() as session:
            instance = await instance_service.get_for_worker(session, instance_id)
            if instance is None or instance.desired_state is not DesiredState.stopped:
                return
            # A leftover record of an exited worker; stopping it again is a no-op that clears it.
            await self._runtime.stop(instance_id, grace_seconds=0)
            instance.status = InstanceStatus.stopped
            instance.connection_state = None
            instance.worker_address = None
            self._crashes.pop(instance_id, None)
            await session.commit()

    async def _remove(self, instance_id: str) -> None:
        log.info("worker_orphaned", instance_id=instance_id)
        await self._runtime.remove(instance_id)
        self._crashes.pop(instance_id, None)
