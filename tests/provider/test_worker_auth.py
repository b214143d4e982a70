"""The internal API admits only the current worker of an instance: token bound to the instance and its epoch."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.support.api import Api
from tests.support.workers import identity, set_epoch


async def test_only_the_current_epochs_token_is_admitted(app: FastAPI, client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    other = await api.new_instance(tenant)
    current = await set_epoch(app, instance["id"], 3)
    batch = {"get": ["session"]}

    ok = await client.post(current.path("/state"), json=batch, headers=current.headers)
    assert ok.status_code == 200, ok.text

    previous = identity(app, instance["id"], 2)
    superseded = await client.post(previous.path("/state"), json=batch, headers=previous.headers)
    assert superseded.status_code == 409
    assert superseded.json()["code"] == "epoch_superseded"

    future = identity(app, instance["id"], 4)
    assert (await client.post(future.path("/state"), json=batch, headers=future.headers)).status_code == 401
    forged = {**previous.headers, "Authorization": "Bearer wkt_" + "0" * 64}
    assert (await client.post(previous.path("/state"), json=batch, headers=forged)).json()["code"] == "unauthorized"
    # A token of one instance opens nothing of another.
    elsewhere = f"/internal/v1/instances/{other['id']}/state"
    assert (await client.post(elsewhere, json=batch, headers=current.headers)).status_code == 401
    for headers in ({}, {"Authorization": current.headers["Authorization"]}, {"X-Worker-Epoch": "3"}):
        response = await client.post(current.path("/state"), json=batch, headers=headers)
        assert response.status_code == 401
    # An API key is not a worker token.
    assert (await client.post(current.path("/state"), json=batch, headers=tenant.headers)).status_code == 401
    unknown = "/internal/v1/instances/ins_01JDQ6W9Z8K3V7Q2X4N5M6P7R8/state"
    assert (await client.post(unknown, json=batch, headers=current.headers)).status_code == 401
