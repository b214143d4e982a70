"""The state store's key-value batches and versioned snapshots, as workers use them."""

from __future__ import annotations

import hashlib

import httpx
from fastapi import FastAPI

from tests.support.api import Api
from tests.support.workers import WorkerIdentity, set_epoch


async def _worker(app: FastAPI, api: Api) -> WorkerIdentity:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    return await set_epoch(app, instance["id"], 1)


async def test_key_value_batches_are_applied_in_order(app: FastAPI, client: httpx.AsyncClient, api: Api) -> None:
    worker = await _worker(app, api)

    async def batch(body: dict[str, object]) -> httpx.Response:
        return await client.post(worker.path("/state"), json=body, headers=worker.headers)

    first = await batch({"put": {"creds": '{"a":1}', "pre-key:1": "x", "pre-key:2": "y"}, "get": ["creds", "nope"]})
    assert first.json() == {"values": {"creds": '{"a":1}', "nope": None}}
    # Deletes, then puts, then gets: a key deleted and put in one batch ends up put.
    second = await batch({"delete": ["pre-key:1", "creds"], "put": {"creds": "new"}, "get": ["creds", "pre-key:1"]})
    assert second.json() == {"values": {"creds": "new", "pre-key:1": None}}
    keys = await client.get(worker.path("/state"), params={"prefix": "pre-key:"}, headers=worker.headers)
    assert keys.json() == {"keys": ["pre-key:2"]}
    like_chars = await client.get(worker.path("/state"), params={"prefix": "pre%"}, headers=worker.headers)
    assert like_chars.json() == {"keys": []}
    cleared = await batch({"clear": True, "get": ["creds", "pre-key:2"]})
    assert cleared.json() == {"values": {"creds": None, "pre-key:2": None}}


async def test_bad_batches_are_refused_and_change_nothing(app: FastAPI, client: httpx.AsyncClient, api: Api) -> None:
    worker = await _worker(app, api)
    await client.post(worker.path("/state"), json={"put": {"keep": "me"}}, headers=worker.headers)
    for body in (
        {"put": {"": "empty key"}},
        {"put": {"k\n": "control character"}},
        {"put": {"big": "x" * (1024 * 1024 + 1)}},
        {"get": "not-a-list"},
        {"unknown": True},
    ):
        response = await client.post(worker.path("/state"), json={"delete": ["keep"], **body}, headers=worker.headers)
        assert response.status_code == 422, body
    kept = await client.post(worker.path("/state"), json={"get": ["keep"]}, headers=worker.headers)
    assert kept.json() == {"values": {"keep": "me"}}
    too_much = {"put": {f"k{i}": "x" * (1024 * 1024 - 10) for i in range(9)}}
    response = await client.post(worker.path("/state"), json=too_much, headers=worker.headers)
    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"


async def test_snapshots_are_versioned_checked_and_pruned(app: FastAPI, client: httpx.AsyncClient, api: Api) -> None:
    worker = await _worker(app, api)
    path = worker.path("/snapshots/session.db")

    async def put(data: bytes, if_match: str, sha: str | None = None) -> httpx.Response:
        headers = {
            **worker.headers,
            "X-Content-SHA256": sha or hashlib.sha256(data).hexdigest(),
            "If-Match": if_match,
            "Content-Type": "application/octet-stream",
        }
        return await client.put(path, content=data, headers=headers)

    missing = await client.get(path, headers=worker.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "snapshot_not_found")
    assert (await put(b"v1", "0")).json() == {
        "generation": 1,
        "sha256": hashlib.sha256(b"v1").hexdigest(),
        "size": 2,
    }
    stale = await put(b"v1-again", "0")
    assert (stale.status_code, stale.json()["code"]) == (412, "generation_conflict")
    corrupt = await put(b"v2", "1", sha=hashlib.sha256(b"other").hexdigest())
    assert (corrupt.status_code, corrupt.json()["code"]) == (422, "checksum_mismatch")
    for generation, data in enumerate([b"v2", b"v3", b"v4"], start=1):
        assert (await put(data, str(generation))).status_code == 201
    latest = await client.get(path, headers=worker.headers)
    assert latest.content == b"v4"
    assert latest.headers["x-generation"] == "4"
    assert latest.headers["x-content-sha256"] == hashlib.sha256(b"v4").hexdigest()
    async with app.state.sessionmaker() as session:
        from sqlalchemy import text

        kept = (await session.execute(text("SELECT generation FROM instance_snapshots ORDER BY generation"))).all()
    assert [row[0] for row in kept] == [2, 3, 4]
    bad_name = await client.get(worker.path("/snapshots/..%2Fetc"), headers=worker.headers)
    assert bad_name.status_code in (404, 422)
