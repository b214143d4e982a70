"""The local runtime against real worker processes (small Python scripts standing in for provider workers)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from whatsapp_gateway.runtime.base import WorkerSpec
from whatsapp_gateway.runtime.local import LocalRuntime

SLEEPER = "import time; print('ready', flush=True); time.sleep(600)"
MiB = 1024 * 1024


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def spec(code: str = SLEEPER, *, instance_id: str = "inst_a", epoch: int = 1, **kwargs: object) -> WorkerSpec:
    return WorkerSpec(instance_id=instance_id, epoch=epoch, provider="sandbox", command=python(code), **kwargs)  # type: ignore[arg-type]  # test helper forwards optional fields


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_for_line(runtime: LocalRuntime, instance_id: str, line: str) -> None:
    async def seen() -> bool:
        return line in await runtime.logs(instance_id, tail=1000)

    await eventually(seen, f"{line!r} in the logs of {instance_id}")


def proc_file(pid: int | str, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text()


def has_swap() -> bool:
    return len(Path("/proc/swaps").read_text().strip().splitlines()) > 1


def alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped by its parent) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    runtime = LocalRuntime(tmp_path)
    yield runtime
    for instance_id in await runtime.list():
        await runtime.remove(instance_id)


async def test_worker_output_and_environment(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    for secret in ("API_SECRET", "SECRET_KEY", "DATABASE_URL"):
        monkeypatch.setenv(secret, "do-not-leak")
    code = """
        import json, os, sys, time
        print("to stderr", file=sys.stderr, flush=True)
        print(json.dumps(dict(os.environ)), flush=True)
        time.sleep(600)
    """
    info = await runtime.start(spec(code, env={"INSTANCE_ID": "inst_a", "WORKER_TOKEN": "tok"}))

    assert info.running
    assert info.epoch == 1
    await eventually(lambda: _has_lines(runtime, 2), "two lines of output")
    stderr_line, env_line = await runtime.logs("inst_a", tail=2)
    assert stderr_line == "to stderr"
    env = json.loads(env_line)
    data_dir = runtime.data_dir / "instances" / "inst_a" / "data"
    assert env["DATA_DIR"] == str(data_dir)
    assert data_dir.is_dir()
    assert env["INSTANCE_ID"] == "inst_a"
    assert env["WORKER_TOKEN"] == "tok"
    assert not {"API_SECRET", "SECRET_KEY", "DATABASE_URL"} & env.keys()


async def _has_lines(runtime: LocalRuntime, count: int) -> bool:
    return len(await runtime.logs("inst_a", tail=count)) == count


async def test_start_is_idempotent_for_one_epoch_and_replaces_another(runtime: LocalRuntime) -> None:
    first = await runtime.start(spec(epoch=1))
    again = await runtime.start(spec(epoch=1))
    assert again.ref == first.ref

    replaced = await runtime.start(spec(epoch=2))

    assert replaced.ref != first.ref
    assert not alive(int(first.ref))
    listed = (await runtime.list())["inst_a"]
    assert (listed.epoch, listed.ref, listed.running) == (2, replaced.ref, True)


async def test_killed_worker_is_reported_exited_with_its_code(runtime: LocalRuntime) -> None:
    info = await runtime.start(spec())
    await wait_for_line(runtime, "inst_a", "ready")

    os.kill(int(info.ref), signal.SIGKILL)

    async def exited() -> bool:
        return not (await runtime.list())["inst_a"].running

    await eventually(exited, "the killed worker to be seen exited")
    assert (await runtime.list())["inst_a"].exit_code == 128 + signal.SIGKILL
    with pytest.raises(FileNotFoundError):  # reaped, not left a zombie
        proc_file(info.ref, "stat")


async def test_stop_sends_sigterm_then_sigkill(runtime: LocalRuntime) -> None:
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, lambda *_: print("got SIGTERM, staying", flush=True))
        print("ready", flush=True)
        while True:
            time.sleep(1)
    """
    info = await runtime.start(spec(code))
    await wait_for_line(runtime, "inst_a", "ready")

    exit_code = await runtime.stop("inst_a", grace_seconds=0.5)

    assert exit_code == 128 + signal.SIGKILL
    assert "got SIGTERM, staying" in await runtime.logs("inst_a", tail=10)
    assert not alive(int(info.ref))
    assert "inst_a" not in await runtime.list()
    assert await runtime.stop("inst_a", grace_seconds=0.5) is None


async def test_stop_lets_a_worker_exit_cleanly(runtime: LocalRuntime) -> None:
    code = """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print("ready", flush=True)
        time.sleep(600)
    """
    await runtime.start(spec(code))
    await wait_for_line(runtime, "inst_a", "ready")

    assert await runtime.stop("inst_a", grace_seconds=10) == 0


async def test_a_new_runtime_object_adopts_workers_of_a_discarded_one(tmp_path: Path) -> None:
    first = LocalRuntime(tmp_path)
    info = await first.start(spec())
    del first

    second = LocalRuntime(tmp_path)
    listed = (await second.list())["inst_a"]

    assert (listed.running, listed.ref, listed.epoch) == (True, info.ref, 1)
    assert await second.stop("inst_a", grace_seconds=5) == 128 + signal.SIGTERM
    assert not alive(int(info.ref))


CONTROL_PLANE = """
import asyncio, sys
from pathlib import Path
from whatsapp_gateway.runtime.base import WorkerSpec
from whatsapp_gateway.runtime.local import LocalRuntime

async def main() -> None:
    worker = "import time\\nwhile True:\\n    print('tick', flush=True)\\n    time.sleep(0.05)"
    info = await LocalRuntime(Path(sys.argv[1])).start(
        WorkerSpec(instance_id="inst_a", epoch=7, provider="sandbox", command=[sys.executable, "-c", worker])
    )
    print("started", info.ref, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_workers_survive_a_killed_control_plane_and_are_adopted(tmp_path: Path) -> None:
    # The control plane in a process (and process group) of its own, killed the way a supervisor kills a service.
    control_plane = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CONTROL_PLANE,
        str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert control_plane.stdout is not None
    try:
        line = b""
        while not line.startswith(b"started"):
            line = await asyncio.wait_for(control_plane.stdout.readline(), timeout=30)
            assert line, "the control plane exited before starting its worker"
        worker_pid = int(line.split()[1])
    finally:
        os.killpg(control_plane.pid, signal.SIGKILL)
        await control_plane.stdout.read()
        await control_plane.wait()

    runtime = LocalRuntime(tmp_path)
    listed = (await runtime.list())["inst_a"]
    assert (listed.running, listed.ref, listed.epoch) == (True, str(worker_pid), 7)
    # Still writing: its output goes to a file, not to a pipe that died with the control plane.
    ticks = len(await runtime.logs("inst_a", tail=100_000))

    async def more_ticks() -> bool:
        return len(await runtime.logs("inst_a", tail=100_000)) > ticks + 5

    await eventually(more_ticks, "the adopted worker to keep writing")

    assert await runtime.stop("inst_a", grace_seconds=5) is None  # not our child: its exit status went to init
    assert not alive(worker_pid)
    assert "inst_a" not in await runtime.list()


async def test_a_recycled_pid_is_not_taken_for_the_worker(runtime: LocalRuntime) -> None:
    instance_dir = runtime.data_dir / "instances" / "inst_a"
    instance_dir.mkdir(parents=True)
    # A live pid (ours) with a start time that is not its own: what a record looks like after the pid was reused.
    record = {"pid": os.getpid(), "epoch": 3, "started_at": "2026-01-01T00:00:00+00:00", "proc_start_ticks": 1}
    (instance_dir / "worker.json").write_text(json.dumps(record))

    listed = (await runtime.list())["inst_a"]
    assert (listed.running, listed.ref) == (False, str(os.getpid()))
    # Were our process signalled, this test would not get to its end.
    assert await runtime.stop("inst_a", grace_seconds=1) is None
    await runtime.kill("inst_a")


async def test_log_rotates_at_start(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, log_max_bytes=1000)
    first = "for i in range(200):\n    print(f'first-{i:03}', flush=True)"  # 1800 bytes
    await runtime.start(spec(first, epoch=1))

    async def exited() -> bool:
        return not (await runtime.list())["inst_a"].running

    await eventually(exited, "the first worker to finish")
    await runtime.start(spec("print('second', flush=True)", epoch=2))
    await eventually(exited, "the second worker to finish")

    logs_dir = tmp_path / "instances" / "inst_a" / "logs"
    assert (logs_dir / "worker.log").read_text() == "second\n"
    assert (logs_dir / "worker.log.1").read_text().startswith("first-000\n")
    assert await runtime.logs("inst_a", tail=3) == ["first-198", "first-199", "second"]
    assert len(await runtime.logs("inst_a", tail=1000)) == 201
    await runtime.remove("inst_a")


async def test_log_of_a_running_worker_rotates(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, log_max_bytes=1000)
    code = """
        import os, time
        for i in range(200):  # 1800 bytes
            print(f"line-{i:03}", flush=True)
        while not os.path.exists("go"):  # the working directory is DATA_DIR
            time.sleep(0.02)
        print("after rotation", flush=True)
        time.sleep(600)
    """
    await runtime.start(spec(code))
    await wait_for_line(runtime, "inst_a", "line-199")

    await runtime.list()
    (tmp_path / "instances" / "inst_a" / "data" / "go").touch()
    await wait_for_line(runtime, "inst_a", "after rotation")

    logs_dir = tmp_path / "instances" / "inst_a" / "logs"
    # Written through O_APPEND, the new line lands at the start of the truncated file, not after a hole of NULs.
    assert (logs_dir / "worker.log").read_bytes() == b"after rotation\n"
    assert await runtime.logs("inst_a", tail=2) == ["line-199", "after rotation"]
    await runtime.remove("inst_a")


ALLOCATE = """
    import time
    print("ready", flush=True)
    try:
        data = b"x" * (256 * 1024 * 1024)  # written, so the pages are really used
        print("allocated", flush=True)
    except MemoryError:
        print("MemoryError", flush=True)
    time.sleep(600)
"""


async def test_memory_and_cpu_limits_with_cgroups(runtime: LocalRuntime) -> None:
    if runtime.limits == "rlimit":
        pytest.skip("cgroups are not writable here")
    info = await runtime.start(spec(ALLOCATE, memory_limit_bytes=64 * MiB, cpu_limit=0.5))

    cgroups = runtime.cgroup_dirs("inst_a")
    membership = proc_file(info.ref, "cgroup")
    for directory in cgroups:
        assert (directory / "cgroup.procs").exists()
        assert "/wagw/inst_a\n" in membership
    if runtime.limits == "cgroup-v1":
        memory = next(d for d in cgroups if (d / "memory.limit_in_bytes").exists())
        cpu = next(d for d in cgroups if (d / "cpu.cfs_quota_us").exists())
        assert int((memory / "memory.limit_in_bytes").read_text()) == 64 * MiB
        assert int((cpu / "cpu.cfs_quota_us").read_text()) == 50_000
        assert int((cpu / "cpu.cfs_period_us").read_text()) == 100_000
    else:
        assert (cgroups[0] / "memory.max").read_text().strip() == str(64 * MiB)
        assert (cgroups[0] / "cpu.max").read_text().split() == ["50000", "100000"]

    if not has_swap():  # with swap, the kernel may page the worker out rather than kill it

        async def exited() -> bool:
            return not (await runtime.list())["inst_a"].running

        await eventually(exited, "the memory-hungry worker to be killed")
        assert (await runtime.list())["inst_a"].exit_code == 128 + signal.SIGKILL
        assert "allocated" not in await runtime.logs("inst_a", tail=10)

    await runtime.remove("inst_a")
    assert not any(directory.exists() for directory in cgroups)


async def test_memory_limit_with_rlimit(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, cgroups=False)
    assert runtime.limits == "rlimit"
    info = await runtime.start(spec(ALLOCATE, memory_limit_bytes=64 * MiB, cpu_limit=0.5))
    await wait_for_line(runtime, "inst_a", "MemoryError")

    limits = proc_file(info.ref, "limits").splitlines()
    data = next(line for line in limits if line.startswith("Max data size"))
    assert data.split()[3:5] == [str(64 * MiB), str(64 * MiB)]
    assert "allocated" not in await runtime.logs("inst_a", tail=10)
    await runtime.remove("inst_a")


async def test_remove_deletes_the_instance(runtime: LocalRuntime) -> None:
    info = await runtime.start(spec())
    await wait_for_line(runtime, "inst_a", "ready")

    await runtime.remove("inst_a")

    assert not alive(int(info.ref))
    assert not (runtime.data_dir / "instances" / "inst_a").exists()
    assert await runtime.list() == {}
    assert await runtime.logs("inst_a", tail=10) == []
    await runtime.remove("inst_a")  # idempotent


@pytest.mark.parametrize("instance_id", ["", "..", "../escape", "a/b", ".hidden"])
async def test_unsafe_instance_ids_are_refused(runtime: LocalRuntime, instance_id: str) -> None:
    with pytest.raises(ValueError, match="instance id"):
        await runtime.start(spec(instance_id=instance_id))
