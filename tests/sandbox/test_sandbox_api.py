"""The sandbox's public API refuses what a phone could not do, with its own codes."""

from __future__ import annotations

import httpx

from tests.support.api import Api


async def test_scanning_unknown_or_foreign_codes_is_404(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    scan = await client.post("/api/sandbox/scan", json={"qr": "sandbox:1:nope"}, headers=tenant.headers)
    assert (scan.status_code, scan.json()["code"]) == (404, "link_not_found")
    code = await client.post("/api/sandbox/enter-code", json={"code": "ABCD-EFGH"}, headers=tenant.headers)
    assert (code.status_code, code.json()["code"]) == (404, "link_not_found")


async def test_inbound_needs_a_sandbox_instance_of_ones_own(client: httpx.AsyncClient, api: Api) -> None:
    tenant, other = await api.new_tenant(), await api.new_tenant()
    instance = await api.new_instance(tenant)
    body = {"instance": instance["id"], "from": "+4915112345678", "type": "text", "text": "hi"}
    assert (await client.post("/api/sandbox/inbound", json=body, headers=tenant.headers)).status_code == 202
    foreign = await client.post("/api/sandbox/inbound", json=body, headers=other.headers)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "sandbox_instance_not_found")
    for bad in (
        {**body, "type": "poll"},
        {**body, "text": None},
        {**body, "type": "image"},
        {**body, "from": "not-a-phone"},
    ):
        response = await client.post("/api/sandbox/inbound", json=bad, headers=tenant.headers)
        assert response.status_code == 422, bad
    by_phone = {**body, "instance": instance["phone"]}
    assert (await client.post("/api/sandbox/inbound", json=by_phone, headers=tenant.headers)).status_code == 202
    for action in ("unlink", "drop"):
        response = await client.post(f"/api/sandbox/{action}", json={"instance": "14150000000"}, headers=tenant.headers)
        assert (response.status_code, response.json()["code"]) == (404, "sandbox_instance_not_found")
