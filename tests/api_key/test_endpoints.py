from __future__ import annotations

import httpx

from tests.support.api import Api, bearer


async def test_key_is_shown_once_and_stored_only_as_hash(client: httpx.AsyncClient, api: Api, app: object) -> None:
    tenant = await api.new_tenant()
    listed = await client.get(f"/api/tenants/{tenant.id}/keys", headers=api.operator)
    assert listed.status_code == 200
    [shown] = listed.json()["data"]
    assert "key" not in shown
    assert tenant.key.startswith(f"wagw_{shown['prefix']}_")
    assert len(tenant.key) >= len("wagw_12345678_") + 43  # 32 random bytes, base64url

    from sqlalchemy import text

    async with app.state.engine.connect() as connection:  # type: ignore[attr-defined]
        row = (await connection.execute(text("SELECT * FROM api_keys"))).mappings().one()
    assert tenant.key not in {str(v) for v in row.values()}


async def test_no_key_and_unknown_key_are_401(client: httpx.AsyncClient, api: Api) -> None:
    for headers in (
        {},
        bearer(""),
        bearer("wagw_abcdefgh_" + "x" * 43),
        bearer("nonsense"),
        {"Authorization": "Basic a"},
    ):
        response = await client.get("/api/instances", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "unauthorized"
        assert response.headers["content-type"] == "application/problem+json"


async def test_revoked_key_is_401_at_once(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    assert (await client.get("/api/instances", headers=tenant.headers)).status_code == 200
    revoked = await client.delete(f"/api/keys/{tenant.key_id}", headers=api.operator)
    assert revoked.status_code == 204
    assert (await client.get("/api/instances", headers=tenant.headers)).status_code == 401
    # Revoking again changes nothing and still answers 204.
    assert (await client.delete(f"/api/keys/{tenant.key_id}", headers=api.operator)).status_code == 204
    [shown] = (await client.get(f"/api/tenants/{tenant.id}/keys", headers=api.operator)).json()["data"]
    assert shown["revoked_at"] is not None


async def test_tenant_manages_its_own_keys(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    created = await client.post(f"/api/tenants/{tenant.id}/keys", json={"name": "ci"}, headers=tenant.headers)
    assert created.status_code == 201
    second = created.json()
    assert (await client.get("/api/instances", headers=bearer(second["key"]))).status_code == 200

    listed = (await client.get(f"/api/tenants/{tenant.id}/keys", headers=tenant.headers)).json()["data"]
    assert {k["id"] for k in listed} == {tenant.key_id, second["id"]}

    assert (await client.delete(f"/api/keys/{second['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get("/api/instances", headers=bearer(second["key"]))).status_code == 401
    assert (await client.get("/api/instances", headers=tenant.headers)).status_code == 200


async def test_tenant_cannot_touch_another_tenants_keys(client: httpx.AsyncClient, api: Api) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    created = await client.post(f"/api/tenants/{b.id}/keys", json={"name": "x"}, headers=a.headers)
    assert created.status_code == 404
    assert (await client.get(f"/api/tenants/{b.id}/keys", headers=a.headers)).status_code == 404
    deleted = await client.delete(f"/api/keys/{b.key_id}", headers=a.headers)
    assert deleted.status_code == 404
    assert deleted.json()["code"] == "api_key_not_found"
    assert (await client.get("/api/instances", headers=b.headers)).status_code == 200


async def test_last_used_at_is_recorded(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    [before] = (await client.get(f"/api/tenants/{tenant.id}/keys", headers=api.operator)).json()["data"]
    assert before["last_used_at"] is None
    await client.get("/api/instances", headers=tenant.headers)
    [after] = (await client.get(f"/api/tenants/{tenant.id}/keys", headers=api.operator)).json()["data"]
    assert after["last_used_at"] is not None


async def test_operator_key_is_never_a_tenant(client: httpx.AsyncClient, api: Api) -> None:
    response = await client.post(
        "/api/instances", json={"phone": "+14155550100", "provider": "sandbox"}, headers=api.operator
    )
    assert response.status_code == 422
    assert response.json()["code"] == "tenant_required"
