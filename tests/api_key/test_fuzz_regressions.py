"""API key bugs found by tests/test_openapi_fuzz.py, pinned down."""

from __future__ import annotations

import httpx

from tests.support.api import Api


async def test_key_and_tenant_ids_with_a_nul_are_unknown_not_500(client: httpx.AsyncClient, api: Api) -> None:
    # PostgreSQL refuses NUL in text: looking such ids up was a 500 there.
    tenant = await api.new_tenant()
    revoked = await client.delete(f"/api/keys/{tenant.key_id}%00", headers=api.operator)
    assert revoked.status_code == 404, revoked.text
    assert revoked.json()["code"] == "api_key_not_found"
    for response in (
        await client.get(f"/api/tenants/{tenant.id}%00/keys", headers=api.operator),
        await client.post(f"/api/tenants/{tenant.id}%00/keys", json={"name": "ci"}, headers=api.operator),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "tenant_not_found"
    assert (await client.get(f"/api/tenants/{tenant.id}", headers=tenant.headers)).status_code == 200


async def test_revoking_with_a_trailing_slash_is_404_and_revokes_nothing(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    response = await client.delete(f"/api/keys/{tenant.key_id}/", headers=api.operator)
    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"
    assert (await client.get(f"/api/tenants/{tenant.id}", headers=tenant.headers)).status_code == 200
