"""Fixtures for the waba provider: the fake Graph API on loopback, and a gateway pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings
from tests.support.api import Api, TenantWithKey
from tests.support.fake_graph import FakeGraph, Number, running_fake_graph
from whatsapp_gateway.app import create_app


@pytest.fixture(scope="session")
def fake_graph() -> Iterator[FakeGraph]:
    with running_fake_graph() as fake:
        yield fake


@pytest.fixture(scope="session")
async def app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, fake_graph: FakeGraph
) -> AsyncIterator[FastAPI]:
    """The in-process gateway of the shared fixtures, with its Graph API at the fake."""
    settings = make_settings(database_url, tmp_path_factory.mktemp("data"), waba_graph_url=fake_graph.url)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class WabaInstance:
    tenant: TenantWithKey
    instance: dict[str, Any]
    number: Number

    @property
    def id(self) -> str:
        return str(self.instance["id"])

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers

    @property
    def hook(self) -> str:
        return f"/hooks/waba/{self.id}"


@pytest.fixture
def new_waba(api: Api, fake_graph: FakeGraph) -> Any:
    async def make(**knobs: Any) -> WabaInstance:
        number = fake_graph.add_number(**knobs)
        tenant = await api.new_tenant()
        instance = await api.new_instance(tenant, provider="waba", config=fake_graph.config_of(number))
        return WabaInstance(tenant, instance, number)

    return make


async def post_signed(
    client: httpx.AsyncClient,
    fake: FakeGraph,
    waba: WabaInstance,
    payload: dict[str, Any],
    *,
    secret: str | None = None,
) -> httpx.Response:
    """What Meta does: the payload, signed with the app secret, to the instance's webhook route."""
    body, headers = fake.signed(waba.number, payload, secret=secret)
    return await client.post(waba.hook, content=body, headers=headers)
