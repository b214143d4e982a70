from __future__ import annotations

import httpx

from tests.support.api import Api


async def test_operator_creates_lists_and_fetches_tenants(client: httpx.AsyncClient, api: Api) -> None:
    created = await client.post(
        "/api/tenants", json={"name": "  Acme  ", "email": "Ops@Acme.Example"}, headers=api.operator
    )
    assert created.status_code == 201
    tenant = created.json()
    assert tenant["id"].startswith("ten_")
    assert tenant["name"] == "Acme"
    assert tenant["email"] == "ops@acme.example"

    listed = await client.get("/api/tenants", headers=api.operator)
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["data"]] == [tenant["id"]]

    fetched = await client.get(f"/api/tenants/{tenant['id']}", headers=api.operator)
    assert fetched.json() == tenant


async def test_tenant_list_pages_with_a_cursor(client: httpx.AsyncClient, api: Api) -> None:
    ids = [(await api.new_tenant()).id for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/tenants", params=params, headers=api.operator)).json()
        seen += [t["id"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


async def test_tenant_key_sees_only_its_own_tenant(client: httpx.AsyncClient, api: Api) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    assert (await client.get(f"/api/tenants/{a.id}", headers=a.headers)).status_code == 200
    other = await client.get(f"/api/tenants/{b.id}", headers=a.headers)
    assert other.status_code == 404
    assert other.json()["code"] == "tenant_not_found"


async def test_tenant_key_on_admin_routes_is_forbidden(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    listed = await client.get("/api/tenants", headers=tenant.headers)
    assert listed.status_code == 403
    assert listed.json()["code"] == "forbidden"
    created = await client.post("/api/tenants", json={"name": "x", "email": "x@example.com"}, headers=tenant.headers)
    assert created.status_code == 403
    assert (await client.get("/api/tenants", headers=api.operator)).json()["data"][0]["id"] == tenant.id


async def test_bad_tenant_input_is_422_and_stores_nothing(client: httpx.AsyncClient, api: Api) -> None:
    for body in (
        {"name": "Acme"},
        {"name": "", "email": "a@example.com"},
        {"name": "Acme", "email": "not-an-email"},
        {"name": "Ac\x00me", "email": "a@example.com"},
        {"name": "Acme", "email": "a@example.com", "plan": "gold"},
        {"name": "x" * 101, "email": "a@example.com"},
    ):
        response = await client.post("/api/tenants", json=body, headers=api.operator)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"]
    assert (await client.get("/api/tenants", headers=api.operator)).json()["data"] == []


async def test_bad_cursor_is_a_clear_error(client: httpx.AsyncClient, api: Api) -> None:
    response = await client.get("/api/tenants", params={"cursor": "%%%not-a-cursor"}, headers=api.operator)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"
