"""Fixtures of the provider conformance suite: one fake control plane per test, worker processes on top of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.providers.harness import FakeGateway, ProviderSpec, WorkerProcess, new_id, selected_providers

_WORKERS = pytest.StashKey[list[WorkerProcess]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "offline: provider conformance checks against a fake control plane, with WhatsApp (or the sandbox hub) "
        "unreachable",
    )
    config.addinivalue_line(
        "markers", "online: provider conformance checks under the real control plane, paired and messaging"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed:
        for worker in item.stash.get(_WORKERS, []):
            report.sections.append(
                (f"worker log: {worker.provider.name}, epoch {worker.epoch}, pid {worker.pid}", worker.log())
            )
    return report


@pytest.fixture(params=[pytest.param(p, id=p.name) for p in selected_providers()])
def provider(request: pytest.FixtureRequest) -> ProviderSpec:
    spec: ProviderSpec = request.param
    reason = spec.unavailable_reason()
    if reason:
        pytest.skip(reason)
    return spec


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway(new_id("ins"))
    await fake.start()
    yield fake
    await fake.stop()
    assert not fake.violations, "the worker broke the protocol:\n" + "\n".join(fake.violations)


class StartWorker(Protocol):
    async def __call__(
        self,
        *,
        epoch: int = 1,
        data_dir: Path | None = None,
        listen: str = "127.0.0.1:0",
        wait_ready: bool = True,
    ) -> WorkerProcess: ...


@pytest.fixture
async def start_worker(
    request: pytest.FixtureRequest, provider: ProviderSpec, gateway: FakeGateway, tmp_path: Path
) -> AsyncIterator[StartWorker]:
    """Starts workers like the control plane does: a start makes its epoch the current one."""
    workers: list[WorkerProcess] = []
    request.node.stash[_WORKERS] = workers

    async def start(
        *, epoch: int = 1, data_dir: Path | None = None, listen: str = "127.0.0.1:0", wait_ready: bool = True
    ) -> WorkerProcess:
        gateway.current_epoch = max(gateway.current_epoch, epoch)
        worker = WorkerProcess(
            provider,
            gateway,
            epoch=epoch,
            data_dir=data_dir or tmp_path / "data",
            log_path=tmp_path / f"worker-epoch-{epoch}.log",
            listen=listen,
            config=provider.config,
        )
        workers.append(worker)
        if wait_ready:
            await worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        await worker.aclose()


@pytest.fixture
async def worker(start_worker: StartWorker) -> WorkerProcess:
    """A worker of epoch 1 whose worker.ready has arrived; the WhatsApp side is unreachable."""
    return await start_worker()
