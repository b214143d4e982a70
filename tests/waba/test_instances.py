"""Creating waba instances: settings given once, encrypted at rest, never returned; no worker is ever started."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tests.support.api import Api
from tests.support.fake_graph import FakeGraph
from tests.waba.conftest import WabaInstance


async def test_a_waba_instance_is_connected_at_once_and_its_secrets_never_come_back(
    app: FastAPI, client: httpx.AsyncClient, api: Api, fake_graph: FakeGraph
) -> None:
    number = fake_graph.add_number()
    config = fake_graph.config_of(number)
    tenant = await api.new_tenant()
    created = await client.post(
        "/api/instances", json={"phone": "+15550783881", "provider": "waba", "config": config}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    instance = created.json()
    assert (instance["status"], instance["connection_state"]) == ("running", "connected")

    listed = await client.get("/api/instances", headers=tenant.headers)
    fetched = await client.get(f"/api/instances/{instance['id']}", headers=tenant.headers)
    for answer in (created.text, listed.text, fetched.text):
        for secret in (number.access_token, number.app_secret, number.verify_token):
            assert secret not in answer

    async with app.state.engine.connect() as connection:
        stored = (
            await connection.execute(
                text("SELECT provider_config_sealed FROM instances WHERE id = :id"), {"id": instance["id"]}
            )
        ).scalar_one()
    assert stored.startswith("v1:")
    assert number.access_token not in stored
    assert number.app_secret not in stored


async def test_config_is_required_for_waba_and_refused_for_others(
    client: httpx.AsyncClient, api: Api, fake_graph: FakeGraph
) -> None:
    tenant = await api.new_tenant()
    config = fake_graph.config_of(fake_graph.add_number())
    missing = await client.post(
        "/api/instances", json={"phone": "+15550783882", "provider": "waba"}, headers=tenant.headers
    )
    assert (missing.status_code, missing.json()["code"]) == (422, "provider_config_invalid")
    misplaced = await client.post(
        "/api/instances",
        json={"phone": "+15550783883", "provider": "sandbox", "config": config},
        headers=tenant.headers,
    )
    assert (misplaced.status_code, misplaced.json()["code"]) == (422, "provider_config_invalid")
    bad = await client.post(
        "/api/instances",
        json={"phone": "+15550783884", "provider": "waba", "config": {**config, "phone_number_id": "12ab"}},
        headers=tenant.headers,
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    assert config["access_token"] not in bad.text
    assert (await client.get("/api/instances", headers=tenant.headers)).json()["data"] == []


async def test_another_tenants_waba_instance_is_404(
    client: httpx.AsyncClient, api: Api, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    other = await api.new_tenant()
    body = {"to": "14155550101", "type": "text", "text": "hi"}
    response = await client.post(f"/api/instances/{waba.id}/messages", json=body, headers=other.headers)
    assert (response.status_code, response.json()["code"]) == (404, "instance_not_found")
    assert fake_graph.sent(waba.number) == []


async def test_stopping_a_waba_instance_stops_its_sends_and_starting_resumes_them(
    client: httpx.AsyncClient, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    stopped = await client.post(f"/api/instances/{waba.id}/stop", headers=waba.headers)
    assert (stopped.json()["status"], stopped.json()["connection_state"]) == ("stopped", None)
    body = {"to": "14155550101", "type": "text", "text": "hi"}
    refused = await client.post(f"/api/instances/{waba.id}/messages", json=body, headers=waba.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_connected")
    started = await client.post(f"/api/instances/{waba.id}/start", headers=waba.headers)
    assert (started.json()["status"], started.json()["connection_state"]) == ("running", "connected")
    sent = await client.post(f"/api/instances/{waba.id}/messages", json=body, headers=waba.headers)
    assert sent.status_code == 202, sent.text
