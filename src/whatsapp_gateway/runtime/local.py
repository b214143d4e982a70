"""The `local` runtime: workers as processes on this host, in sessions of their own so they outlive the control plane.

Each instance owns `<data_dir>/instances/<instance_id>/`:

- `data/`: the worker's `DATA_DIR` (and its working directory);
- `logs/worker.log`: stdout and stderr of every worker of the instance, appended across restarts, rotated to
  `worker.log.1` past `log_max_bytes`;
- `worker.json`: the record of the current worker (pid, epoch, start time, cgroups). The record carries the process's
  start time from `/proc/<pid>/stat`, so that a pid the kernel has since handed to another process is never taken for
  our worker. The record is what lets a restarted control plane adopt workers it did not start.

Limits use cgroups when this process may create them (nested under its own cgroup, as `wagw/<instance_id>`), else
`RLIMIT_DATA` for memory and no CPU limit. `LocalRuntime.limits` says which.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import datetime as dt
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import structlog

from whatsapp_gateway.runtime.base import Runtime, WorkerInfo, WorkerSpec

if TYPE_CHECKING:
    from whatsapp_gateway.runtime.docker import NodeConfig

log = structlog.get_logger(__name__)

MiB = 1024 * 1024
LimitMechanism = Literal["cgroup-v1", "cgroup-v2", "rlimit"]

RECORD_FILE = "worker.json"
LOG_FILE = "worker.log"
# The control plane's own environment holds its secrets (API_SECRET, SECRET_KEY, DATABASE_URL): a worker gets only
# what it needs to find its interpreter and speak the locale, plus the protocol environment of its spec.
PASSTHROUGH_ENV = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "TZ"})
PASSTHROUGH_ENV_PREFIX = "PYTHON"

# Instance ids become path components and cgroup names.
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_CGROUP_GROUP = "wagw"
_CFS_PERIOD_US = 100_000
_CFS_MIN_QUOTA_US = 1_000
_POLL_SECONDS = 0.05
# SIGKILL cannot be ignored; a process still there after this is stuck in the kernel (uninterruptible I/O).
_KILL_TIMEOUT_SECONDS = 10.0
_TAIL_BLOCK = 64 * 1024

# A process's children belong to the process, not to one LocalRuntime object: kept at module level, a runtime created
# later in this process can still reap them (no zombies) and learn their exit codes. Keyed by (pid, start ticks).
_children: dict[tuple[int, int], subprocess.Popen[bytes]] = {}


class WorkerDidNotDie(RuntimeError):
    """A worker outlived SIGKILL (stuck in uninterruptible I/O); the caller should retry later."""


@dataclass(frozen=True)
class _Record:
    pid: int
    epoch: int
    started_at: dt.datetime
    # Field 22 of /proc/<pid>/stat, in clock ticks since boot: with the pid, it names one process for good.
    start_ticks: int
    cgroups: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start_ticks)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "pid": self.pid,
                "epoch": self.epoch,
                "started_at": self.started_at.isoformat(),
                "proc_start_ticks": self.start_ticks,
                "cgroups": list(self.cgroups),
            },
            indent=2,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> _Record:
        data = json.loads(raw)
        return cls(
            pid=int(data["pid"]),
            epoch=int(data["epoch"]),
            started_at=dt.datetime.fromisoformat(data["started_at"]),
            start_ticks=int(data["proc_start_ticks"]),
            cgroups=tuple(str(path) for path in data.get("cgroups", ())),
        )


@dataclass(frozen=True)
class _ProcStat:
    state: str
    start_ticks: int


def _proc_stat(pid: int) -> _ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:  # gone, or vanishing while we read
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after the last ')' are unambiguous.
    fields = raw.rsplit(b")", 1)[1].split()
    return _ProcStat(state=fields[0].decode(), start_ticks=int(fields[19]))


def _exit_status(returncode: int) -> int:
    # Popen reports death by signal N as -N; the shell's and Docker's 128+N keeps runtimes comparable (137 = SIGKILL).
    return 128 - returncode if returncode < 0 else returncode


class _Limits:
    """Where instance cgroups go and how limits are written, found once per runtime."""

    def __init__(self, use_cgroups: bool) -> None:
        self.mechanism: LimitMechanism = "rlimit"
        # One parent (`<own cgroup>/wagw`) per hierarchy in use: memory and cpu for v1, the unified one for v2.
        self.parents: tuple[Path, ...] = ()
        reason = "disabled"
        if use_cgroups:
            try:
                self.mechanism, self.parents = _find_cgroup_parents()
                reason = "writable cgroups"
            except _CgroupsUnusable as exc:
                reason = str(exc)
        parents = [str(parent) for parent in self.parents]
        log.info("local runtime limits", mechanism=self.mechanism, reason=reason, cgroups=parents)

    def instance_dirs(self, instance_id: str) -> tuple[Path, ...]:
        return tuple(parent / instance_id for parent in self.parents)

    def prepare(self, instance_id: str, spec: WorkerSpec) -> tuple[Path, ...]:
        dirs = self.instance_dirs(instance_id)
        for directory in dirs:
            directory.mkdir(exist_ok=True)
            # The group outlives one worker: values left by a previous spec must be overwritten, not kept.
            if self.mechanism == "cgroup-v2":
                memory = "max" if spec.memory_limit_bytes is None else str(spec.memory_limit_bytes)
                (directory / "memory.max").write_text(memory)
                (directory / "cpu.max").write_text(f"{_cfs_quota(spec.cpu_limit) or 'max'} {_CFS_PERIOD_US}")
                continue
            # v1: one directory per hierarchy, and a hierarchy may carry both controllers.
            if (directory / "memory.limit_in_bytes").exists():
                memory = "-1" if spec.memory_limit_bytes is None else str(spec.memory_limit_bytes)
                (directory / "memory.limit_in_bytes").write_text(memory)
            if (directory / "cpu.cfs_quota_us").exists():
                (directory / "cpu.cfs_period_us").write_text(str(_CFS_PERIOD_US))
                (directory / "cpu.cfs_quota_us").write_text(str(_cfs_quota(spec.cpu_limit) or -1))
        return dirs

    def preexec(self, cgroup_dirs: tuple[Path, ...], spec: WorkerSpec) -> Callable[[], None]:
        # Runs in the forked child before exec, so not one instruction of the worker runs outside its limits. It must
        # stay tiny (raw syscalls, nothing that takes a lock another thread may have held at fork time).
        procs_files = tuple(os.fsencode(directory / "cgroup.procs") for directory in cgroup_dirs)
        data_limit = spec.memory_limit_bytes if self.mechanism == "rlimit" else None

        def enter_limits() -> None:
            pid = str(os.getpid()).encode()
            for path in procs_files:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)
            if data_limit is not None:
                # RLIMIT_DATA, not RLIMIT_AS: Go and V8 reserve far more address space than they ever use.
                resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

        return enter_limits


class _CgroupsUnusable(Exception):
    pass


def _cfs_quota(cpu_limit: float | None) -> int | None:
    return None if cpu_limit is None else max(_CFS_MIN_QUOTA_US, round(cpu_limit * _CFS_PERIOD_US))


def _find_cgroup_parents() -> tuple[LimitMechanism, tuple[Path, ...]]:
    """Create `wagw/` under this process's own cgroup in the memory and cpu hierarchies.

    Nesting under our own cgroup keeps workers inside whatever the operator (systemd, a container) allotted to the
    control plane, instead of escaping to the root of the hierarchy.
    """
    own: dict[str, str] = {}  # controller ("" for v2) -> path of our cgroup in that hierarchy
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controller_list, cgroup_path = line.split(":", 2)
        for controller in controller_list.split(",") if controller_list else [""]:
            own[controller] = cgroup_path
    mounts: dict[str, Path] = {}  # controller ("" for v2) -> where our cgroup is visible in the file system
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, _, after = line.partition(" - ")
        root, mountpoint = before.split()[3:5]
        fstype, _source, options = after.split()[:3]
        if fstype == "cgroup2":
            mounted = [""]
        elif fstype == "cgroup":
            mounted = [option for option in options.split(",") if option in ("memory", "cpu")]
        else:
            continue
        # A mount may show a subtree only (a container's): our path is then relative to the mount's root.
        prefix = root.rstrip("/")
        for controller in mounted:
            path = own.get(controller)
            if path is not None and (path + "/").startswith(prefix + "/"):
                mounts[controller] = Path(mountpoint) / path[len(prefix) :].lstrip("/")
    try:
        unified = mounts.get("")
        if unified is not None and {"memory", "cpu"} <= set((unified / "cgroup.controllers").read_text().split()):
            return "cgroup-v2", (_v2_parent(unified),)
        if "memory" in mounts:
            parents = []
            for controller in ("memory", "cpu"):
                if controller in mounts:
                    parent = mounts[controller] / _CGROUP_GROUP
                    parent.mkdir(exist_ok=True)
                    parents.append(parent)
            return "cgroup-v1", tuple(parents)
    except OSError as exc:
        raise _CgroupsUnusable(f"cannot create cgroups: {exc}") from exc
    raise _CgroupsUnusable("no cgroup hierarchy with the memory controller")


def _v2_parent(own: Path) -> Path:
    # cgroup v2 hands controllers down only through cgroups without processes of their own: this fails (EBUSY) when the
    # control plane shares its cgroup with nothing below it, which is the common case unless its cgroup is delegated.
    parent = own / _CGROUP_GROUP
    for directory in (own, parent):
        directory.mkdir(exist_ok=True)
        enabled = set((directory / "cgroup.subtree_control").read_text().split())
        if not {"memory", "cpu"} <= enabled:
            (directory / "cgroup.subtree_control").write_text("+memory +cpu")
    return parent


def _cgroup_members(directories: Iterable[Path]) -> set[int]:
    members: set[int] = set()
    for directory in directories:
        try:
            members.update(int(pid) for pid in (directory / "cgroup.procs").read_text().split())
        except OSError:  # the group does not exist (any more)
            continue
    return members


def _remove_cgroups(directories: Iterable[Path]) -> None:
    for directory in directories:
        try:
            directory.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cgroup not removed", cgroup=str(directory), error=str(exc))


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


def _tail_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of a file, read backwards in blocks: logs can be large, a tail is small."""
    if count <= 0:
        return []
    try:
        file = open(path, "rb")  # noqa: SIM115  (closed below; a `with` would nest the whole loop for nothing)
    except FileNotFoundError:
        return []
    with file:
        position = file.seek(0, os.SEEK_END)
        blocks: list[bytes] = []
        newlines = 0
        while position > 0 and newlines <= count:
            size = min(_TAIL_BLOCK, position)
            position -= size
            file.seek(position)
            block = file.read(size)
            blocks.append(block)
            newlines += block.count(b"\n")
    lines = b"".join(reversed(blocks)).split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return [line.decode("utf-8", errors="replace") for line in lines[-count:]]


class LocalRuntime:
    """Workers as child processes of this host; see the module's docstring for the files and limits."""

    name = "local"
    multi_node = False
    stops_gracefully = False
    unreachable: set[str] = set()

    async def set_nodes(self, configs: Sequence[NodeConfig]) -> None:
        """One node, this host: nothing to configure."""

    async def check(self, node: str) -> dict[str, object]:
        return {"runtime": "local"}

    async def aclose(self) -> None:
        """Workers are processes of their own; nothing to release."""

    def __init__(self, data_dir: Path, *, log_max_bytes: int = 10 * MiB, cgroups: bool = True) -> None:
        """`cgroups=False` forces the rlimit fallback (it is what an unprivileged host gets anyway)."""
        self.data_dir = data_dir.resolve()
        self.log_max_bytes = log_max_bytes
        self._limits = _Limits(cgroups)
        self._locks: dict[str, asyncio.Lock] = {}
        # Rotation by list() (a live worker) and by start() (a dead one) must not interleave.
        self._log_lock = threading.Lock()

    @property
    def limits(self) -> LimitMechanism:
        """How this runtime confines workers: "cgroup-v1", "cgroup-v2", or "rlimit" (memory only)."""
        return self._limits.mechanism

    def instance_dir(self, instance_id: str) -> Path:
        if not _INSTANCE_ID.fullmatch(instance_id):
            raise ValueError(f"not a usable instance id: {instance_id!r}")
        return self.data_dir / "instances" / instance_id

    def cgroup_dirs(self, instance_id: str) -> tuple[Path, ...]:
        """The instance's cgroups (empty when limits are rlimits), for operators and tests to inspect."""
        return self._limits.instance_dirs(instance_id)

    async def start(self, spec: WorkerSpec) -> WorkerInfo:
        instance_dir = self.instance_dir(spec.instance_id)
        async with self._lock(spec.instance_id):
            record = self._read_record(instance_dir)
            if record is not None:
                running, _ = self._status(record)
                if running and record.epoch == spec.epoch:
                    return self._info(spec.instance_id, record, running=True, exit_code=None)
                if running:
                    log.info("replacing worker", instance_id=spec.instance_id, old_epoch=record.epoch, epoch=spec.epoch)
                # Dead or not, its process group or cgroup may hold leftovers (children it spawned).
                await self._kill_and_wait(spec.instance_id, record)
                _children.pop(record.key, None)
            # Anything still in the instance's cgroup is a stray: a worker spawned by a control plane that died before
            # writing its record, or the child of a previous worker.
            await self._kill_and_wait(spec.instance_id, None)
            record = await asyncio.to_thread(self._spawn, instance_dir, spec)
            log.info("worker started", instance_id=spec.instance_id, epoch=spec.epoch, pid=record.pid)
            return self._info(spec.instance_id, record, running=True, exit_code=None)

    async def stop(self, instance_id: str, *, grace_seconds: float) -> int | None:
        """SIGTERM the worker's process group, SIGKILL whatever is left after `grace_seconds`, forget the worker.

        Returns the exit code when this process started the worker (an adopted worker's parent is init, which alone
        learns its status), else None.
        """
        instance_dir = self.instance_dir(instance_id)
        async with self._lock(instance_id):
            record = self._read_record(instance_dir)
            if record is None:
                await self._kill_and_wait(instance_id, None)
                return None
            running, _ = self._status(record)
            if running:
                self._signal(record, signal.SIGTERM)
                if not await self._wait_exited(record, grace_seconds):
                    log.warning("worker ignored SIGTERM, killing it", instance_id=instance_id, grace=grace_seconds)
            # Also after a clean exit: children the worker left behind go with it.
            await self._kill_and_wait(instance_id, record)
            _, exit_code = self._status(record)
            await asyncio.to_thread(self._forget, instance_dir, instance_id, record)
            log.info("worker stopped", instance_id=instance_id, epoch=record.epoch, exit_code=exit_code)
            return exit_code

    async def kill(self, instance_id: str) -> None:
        """SIGKILL the worker and wait until it is gone; its record stays, so list() reports how it ended."""
        instance_dir = self.instance_dir(instance_id)
        async with self._lock(instance_id):
            await self._kill_and_wait(instance_id, self._read_record(instance_dir))

    async def list(self) -> dict[str, WorkerInfo]:
        """Every instance with a record, running or not. Also reaps our exited children and rotates live logs."""
        return await asyncio.to_thread(self._list)

    # `builtins.list`: in this class's body, `list` is the method above.
    async def logs(self, instance_id: str, *, tail: int) -> builtins.list[str]:
        logs_dir = self.instance_dir(instance_id) / "logs"

        def read() -> list[str]:
            with self._log_lock:
                lines = _tail_lines(logs_dir / LOG_FILE, tail)
                if len(lines) < tail:
                    lines = _tail_lines(logs_dir / f"{LOG_FILE}.1", tail - len(lines)) + lines
            return lines

        return await asyncio.to_thread(read)

    async def remove(self, instance_id: str) -> None:
        instance_dir = self.instance_dir(instance_id)
        async with self._lock(instance_id):
            record = self._read_record(instance_dir)
            await self._kill_and_wait(instance_id, record)
            await asyncio.to_thread(self._forget, instance_dir, instance_id, record)
            await asyncio.to_thread(shutil.rmtree, instance_dir, ignore_errors=True)
            log.info("instance removed", instance_id=instance_id)

    def _lock(self, instance_id: str) -> asyncio.Lock:
        return self._locks.setdefault(instance_id, asyncio.Lock())

    def _info(self, instance_id: str, record: _Record, *, running: bool, exit_code: int | None) -> WorkerInfo:
        return WorkerInfo(
            instance_id=instance_id,
            epoch=record.epoch,
            running=running,
            ref=str(record.pid),
            started_at=record.started_at,
            exit_code=exit_code,
        )

    def _read_record(self, instance_dir: Path) -> _Record | None:
        try:
            return _Record.from_json((instance_dir / RECORD_FILE).read_bytes())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            # A record we cannot read names no process we could safely signal; leave it for an operator.
            log.warning("unreadable worker record", path=str(instance_dir / RECORD_FILE), error=str(exc))
            return None

    def _status(self, record: _Record) -> tuple[bool, int | None]:
        """(running, exit code if known). Polling our own child reaps it once it has exited."""
        child = _children.get(record.key)
        if child is not None and (returncode := child.poll()) is not None:
            return False, _exit_status(returncode)
        stat = _proc_stat(record.pid)
        running = stat is not None and stat.start_ticks == record.start_ticks and stat.state not in ("Z", "X")
        return running, None

    def _signal(self, record: _Record, sig: signal.Signals) -> None:
        # The worker leads its own process group (start_new_session), so its children get the signal too. Signal the
        # group only while its leader is provably ours, or when no process holds the pid at all: the kernel does not
        # reuse a pid still in use as a process group id, so then the group can only be our worker's leftovers.
        stat = _proc_stat(record.pid)
        if stat is not None and stat.start_ticks != record.start_ticks:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, sig)

    async def _wait_exited(self, record: _Record, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if not self._status(record)[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)

    async def _kill_and_wait(self, instance_id: str, record: _Record | None) -> None:
        """SIGKILL the worker, its process group and everything in its cgroups, and wait until they are gone."""
        cgroups = set(self._limits.instance_dirs(instance_id))
        if record is not None:
            cgroups.update(Path(path) for path in record.cgroups)
        deadline = time.monotonic() + _KILL_TIMEOUT_SECONDS
        while True:
            if record is not None:
                self._signal(record, signal.SIGKILL)
            # Processes that left the group (a browser started with setsid) are still in the cgroup.
            members = _cgroup_members(cgroups)
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            leader_running = record is not None and self._status(record)[0]
            if not leader_running and not members:
                return
            if time.monotonic() > deadline:
                raise WorkerDidNotDie(f"worker of {instance_id} still alive {_KILL_TIMEOUT_SECONDS}s after SIGKILL")
            await asyncio.sleep(_POLL_SECONDS)

    def _forget(self, instance_dir: Path, instance_id: str, record: _Record | None) -> None:
        (instance_dir / RECORD_FILE).unlink(missing_ok=True)
        cgroups = set(self._limits.instance_dirs(instance_id))
        if record is not None:
            cgroups.update(Path(path) for path in record.cgroups)
            _children.pop(record.key, None)
        _remove_cgroups(cgroups)

    def _spawn(self, instance_dir: Path, spec: WorkerSpec) -> _Record:
        data_dir = instance_dir / "data"
        logs_dir = instance_dir / "logs"
        data_dir.mkdir(parents=True, exist_ok=True)
        logs_dir.mkdir(exist_ok=True)
        log_path = logs_dir / LOG_FILE
        with self._log_lock:
            # No worker writes to the log now: rotating is a rename.
            if log_path.exists() and log_path.stat().st_size > self.log_max_bytes:
                os.replace(log_path, logs_dir / f"{LOG_FILE}.1")
        try:
            cgroup_dirs = self._limits.prepare(spec.instance_id, spec)
        except OSError as exc:
            raise RuntimeError(f"cannot set the limits of {spec.instance_id}: {exc}") from exc
        env = {
            key: value
            for key, value in os.environ.items()
            if key in PASSTHROUGH_ENV or key.startswith(PASSTHROUGH_ENV_PREFIX)
        }
        env.update(spec.env)
        env["DATA_DIR"] = str(data_dir)
        # Straight to a file opened O_APPEND, not a pipe: a worker never blocks on a full pipe nor dies of SIGPIPE when
        # the control plane goes away, and the file can be truncated under it (rotation) without leaving a hole.
        with open(log_path, "ab") as log_file:
            child = subprocess.Popen(  # noqa: S603  (the command comes from the provider registry, not from users)
                spec.command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=data_dir,
                env=env,
                # Its own session: a signal to the control plane's group (Ctrl-C, kill -9 of a supervisor's group)
                # does not reach workers, which must stay up to be adopted.
                start_new_session=True,
                preexec_fn=self._limits.preexec(cgroup_dirs, spec),
            )
        stat = _proc_stat(child.pid)
        if stat is None:  # even an exited child stays visible until reaped: someone else did a waitpid(-1)
            child.kill()
            child.wait()
            raise RuntimeError(f"worker of {spec.instance_id} vanished at start")
        record = _Record(
            pid=child.pid,
            epoch=spec.epoch,
            started_at=dt.datetime.now(dt.UTC),
            start_ticks=stat.start_ticks,
            cgroups=tuple(str(directory) for directory in cgroup_dirs),
        )
        _children[record.key] = child
        _write_atomic(instance_dir / RECORD_FILE, record.to_json())
        return record

    def _list(self) -> dict[str, WorkerInfo]:
        found: dict[str, WorkerInfo] = {}
        try:
            instance_dirs = sorted((self.data_dir / "instances").iterdir())
        except FileNotFoundError:
            return found
        for instance_dir in instance_dirs:
            instance_id = instance_dir.name
            if not _INSTANCE_ID.fullmatch(instance_id):
                continue
            record = self._read_record(instance_dir)
            if record is None:
                continue
            running, exit_code = self._status(record)
            found[instance_id] = self._info(instance_id, record, running=running, exit_code=exit_code)
            if running:
                self._rotate_live_log(instance_dir / "logs" / LOG_FILE)
        return found

    def _rotate_live_log(self, log_path: Path) -> None:
        # The worker keeps its descriptor, so renaming would leave it writing to worker.log.1: copy, then truncate.
        # O_APPEND makes its next write land at the new end. Lines written between the copy and the truncation are lost.
        with self._log_lock:
            try:
                if log_path.stat().st_size <= self.log_max_bytes:
                    return
                shutil.copyfile(log_path, log_path.with_name(f"{LOG_FILE}.1"))
                os.truncate(log_path, 0)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    log.warning("log rotation failed", path=str(log_path), error=str(exc))


if TYPE_CHECKING:
    # Lets mypy prove that LocalRuntime satisfies the protocol the reconciler is written against.
    _conforms: type[Runtime] = LocalRuntime
