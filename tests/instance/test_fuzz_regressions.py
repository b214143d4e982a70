"""Instance bugs found by tests/test_openapi_fuzz.py, pinned down."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import Api


@pytest.mark.parametrize("memory", ["10737418240", "274877906944", "1.000000001g", "0.5000000001g"])
async def test_memory_limit_longer_than_ten_characters_is_422_not_500(
    client: httpx.AsyncClient, api: Api, memory: str
) -> None:
    # Valid sizes, but spelled longer than the column that keeps them: PostgreSQL refused them with a 500.
    tenant = await api.new_tenant()
    body = {"phone": "+14155550100", "provider": "sandbox", "resources": {"memory": memory}}
    created = await client.post("/api/instances", json=body, headers=tenant.headers)
    assert created.status_code == 422, created.text
    assert created.json()["errors"][0]["loc"] == ["body", "resources", "memory"]

    instance = await api.new_instance(tenant)
    patched = await client.patch(
        f"/api/instances/{instance['id']}", json={"resources": {"memory": memory}}, headers=tenant.headers
    )
    assert patched.status_code == 422, patched.text
    assert (await client.get("/api/instances", headers=tenant.headers)).json()["data"] == [instance]


async def test_memory_limit_of_ten_characters_is_kept_as_given(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant, resources={"memory": "1073741824"})
    assert instance["resources"]["memory"] == "1073741824"


@pytest.mark.parametrize("body", [b'{"phone": "\xff"}', b"[" * 100_000 + b"]" * 100_000])
async def test_unreadable_json_body_is_a_validation_error(client: httpx.AsyncClient, api: Api, body: bytes) -> None:
    # Bytes that are not UTF-8, and nesting deeper than the parser goes, were a bare 400 the OpenAPI does not list.
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    headers = {**tenant.headers, "content-type": "application/json"}
    for response in (
        await client.post("/api/instances", content=body, headers=headers),
        await client.patch(f"/api/instances/{instance['id']}", content=body, headers=headers),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"][0]["loc"] == ["body"]


async def test_instance_path_with_a_trailing_slash_is_404_not_a_redirect(client: httpx.AsyncClient, api: Api) -> None:
    # `/api/instances/ins_…%2F` is decoded to a trailing slash, which answered an undocumented 307.
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    for path in (f"/api/instances/{instance['id']}/", f"/api/instances/{instance['id']}%2F", "/api/instances/"):
        response = await client.delete(path, headers=tenant.headers)
        assert response.status_code == 404, path
        assert response.json()["code"] == "route_not_found"
    assert (await client.get(f"/api/instances/{instance['id']}", headers=tenant.headers)).status_code == 200
