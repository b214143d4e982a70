"""Tenant bugs found by tests/test_openapi_fuzz.py, pinned down."""

from __future__ import annotations

import httpx

from tests.support.api import Api


async def test_tenant_id_with_a_nul_is_unknown_not_500(client: httpx.AsyncClient, api: Api) -> None:
    # PostgreSQL refuses NUL in text: a lookup by such an id was a 500 there, wherever a tenant id is taken.
    tenant = await api.new_tenant()
    nul_id = tenant.id + "\x00"
    responses = [
        await client.get(f"/api/tenants/{tenant.id}%00", headers=api.operator),
        await client.get("/api/instances", params={"tenant_id": nul_id}, headers=api.operator),
        await client.post(
            "/api/instances",
            json={"phone": "+14155550100", "provider": "sandbox", "tenant_id": nul_id},
            headers=api.operator,
        ),
    ]
    for response in responses:
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "tenant_not_found"


async def test_tenant_path_with_a_trailing_slash_is_404_not_a_redirect(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    response = await client.get(f"/api/tenants/{tenant.id}%2F", headers=api.operator)
    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"


async def test_deeply_nested_json_body_is_a_validation_error(client: httpx.AsyncClient, api: Api) -> None:
    response = await client.post(
        "/api/tenants",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={**api.operator, "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert (await client.get("/api/tenants", headers=api.operator)).json()["data"] == []
