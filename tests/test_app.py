"""Behaviour shared by every route: problem documents, request ids, probes, docs."""

from __future__ import annotations

import httpx

from tests.support.api import Api


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    spec = (await client.get("/openapi.json")).json()
    assert "/api/instances" in spec["paths"]
    assert "/api/instances/{instance}" in spec["paths"]
    create = spec["paths"]["/api/instances"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]
    assert "409" in create["responses"]
    assert any(s.get("type") == "http" for s in spec["components"]["securitySchemes"].values())


async def test_unknown_route_and_wrong_method_are_problems(client: httpx.AsyncClient, api: Api) -> None:
    missing = await client.get("/api/nothing-here", headers=api.operator)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "route_not_found"
    wrong = await client.put("/api/tenants", headers=api.operator)
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient, api: Api) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/api/instances")
    assert len(made.headers["x-request-id"]) == 32
    assert made.json()["request_id"] == made.headers["x-request-id"]
    hostile = await client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500
