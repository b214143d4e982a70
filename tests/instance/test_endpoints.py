from __future__ import annotations

import httpx
import pytest

from tests.support.api import Api


async def test_create_fetch_by_id_and_phone_update_delete(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    created = await client.post(
        "/api/instances",
        json={
            "name": "support",
            "phone": "+1 (415) 555-0100",
            "provider": "sandbox",
            "webhook": "https://app.example/hooks/wa",
            "resources": {"cpu": "0.5", "memory": "512m"},
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    instance = created.json()
    # The instance's webhook is an endpoint whose signing secret is shown once, here.
    assert instance.pop("webhook_secret").startswith("whsec_")
    assert instance["id"].startswith("ins_")
    assert instance["tenant_id"] == tenant.id
    assert instance["phone"] == "14155550100"
    assert instance["status"] == "creating"
    assert instance["desired_state"] == "running"
    assert instance["connection_state"] is None
    assert instance["resources"] == {"cpu": "0.5", "memory": "512m"}

    by_id = await client.get(f"/api/instances/{instance['id']}", headers=tenant.headers)
    by_phone = await client.get("/api/instances/14155550100", headers=tenant.headers)
    by_plus_phone = await client.get("/api/instances/+14155550100", headers=tenant.headers)
    assert by_id.json() == by_phone.json() == by_plus_phone.json() == instance

    patched = await client.patch(
        "/api/instances/14155550100",
        json={"name": "sales", "webhook": None, "resources": {"memory": "1g"}},
        headers=tenant.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["webhook_secret"] is None
    assert patched.json()["name"] == "sales"
    assert patched.json()["webhook"] is None
    assert patched.json()["resources"] == {"cpu": "0.5", "memory": "1g"}

    assert (await client.delete(f"/api/instances/{instance['id']}", headers=tenant.headers)).status_code == 204
    gone = await client.get(f"/api/instances/{instance['id']}", headers=tenant.headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "instance_not_found"


async def test_defaults_follow_the_original_sketch(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    assert instance["resources"] == {"cpu": "0.5", "memory": "512m"}
    assert instance["name"] is None
    assert instance["webhook"] is None


async def test_the_sandbox_provider_is_accepted(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    assert (await api.new_instance(tenant, provider="sandbox"))["provider"] == "sandbox"


@pytest.mark.parametrize("provider", ["whatsmeow", "baileys", "wawebjs"])
@pytest.mark.usefixtures("no_workers_built")
async def test_providers_that_cannot_run_here_are_refused_with_the_reason(
    client: httpx.AsyncClient, api: Api, provider: str
) -> None:
    tenant = await api.new_tenant()
    response = await client.post(
        "/api/instances", json={"phone": "+14155550199", "provider": provider}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "provider_unavailable"
    listed = await client.get("/api/instances", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_duplicate_phone_in_a_tenant_is_409_but_other_tenants_may(client: httpx.AsyncClient, api: Api) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    body = {"phone": "+447700900123", "provider": "sandbox"}
    assert (await client.post("/api/instances", json=body, headers=a.headers)).status_code == 201
    again = await client.post("/api/instances", json={**body, "phone": "447700900123"}, headers=a.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "phone_already_registered"
    assert (await client.post("/api/instances", json=body, headers=b.headers)).status_code == 201


async def test_another_tenants_instance_is_404_everywhere(client: httpx.AsyncClient, api: Api) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    instance = await api.new_instance(a)
    for reference in (instance["id"], instance["phone"]):
        path = f"/api/instances/{reference}"
        assert (await client.get(path, headers=b.headers)).status_code == 404
        assert (await client.patch(path, json={"name": "x"}, headers=b.headers)).status_code == 404
        assert (await client.delete(path, headers=b.headers)).status_code == 404
    assert (await client.get("/api/instances", headers=b.headers)).json()["data"] == []
    unchanged = await client.get(f"/api/instances/{instance['id']}", headers=a.headers)
    assert unchanged.json() == instance
    # Naming another tenant on create is refused the same way.
    foreign = await client.post(
        "/api/instances", json={"phone": "+14155550199", "provider": "sandbox", "tenant_id": a.id}, headers=b.headers
    )
    assert foreign.status_code == 404


async def test_list_is_paginated_and_filtered(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    made = [await api.new_instance(tenant) for i in range(5)]
    first = (await client.get("/api/instances", params={"limit": 3}, headers=tenant.headers)).json()
    assert [i["id"] for i in first["data"]] == [i["id"] for i in made[:3]]
    second = (
        await client.get("/api/instances", params={"limit": 3, "cursor": first["next_cursor"]}, headers=tenant.headers)
    ).json()
    assert [i["id"] for i in second["data"]] == [i["id"] for i in made[3:]]
    assert second["next_cursor"] is None

    sandbox = (await client.get("/api/instances", params={"provider": "sandbox"}, headers=tenant.headers)).json()
    assert [i["id"] for i in sandbox["data"]] == [i["id"] for i in made]
    whatsmeow = (await client.get("/api/instances", params={"provider": "whatsmeow"}, headers=tenant.headers)).json()
    assert whatsmeow["data"] == []
    creating = (await client.get("/api/instances", params={"status": "creating"}, headers=tenant.headers)).json()
    assert len(creating["data"]) == 5
    running = (await client.get("/api/instances", params={"status": "running"}, headers=tenant.headers)).json()
    assert running["data"] == []
    bad = await client.get("/api/instances", params={"provider": "telegram"}, headers=tenant.headers)
    assert bad.status_code == 422


async def test_operator_sees_all_tenants_and_filters_by_tenant(client: httpx.AsyncClient, api: Api) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    ia, ib = await api.new_instance(a), await api.new_instance(b)
    everything = (await client.get("/api/instances", headers=api.operator)).json()["data"]
    assert {i["id"] for i in everything} == {ia["id"], ib["id"]}
    only_b = (await client.get("/api/instances", params={"tenant_id": b.id}, headers=api.operator)).json()["data"]
    assert [i["id"] for i in only_b] == [ib["id"]]
    created = await client.post(
        "/api/instances", json={"phone": "+14155550111", "provider": "sandbox", "tenant_id": a.id}, headers=api.operator
    )
    assert created.status_code == 201
    assert created.json()["tenant_id"] == a.id


async def test_operator_lookup_by_phone_shared_by_two_tenants_is_ambiguous(client: httpx.AsyncClient, api: Api) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    await api.new_instance(a, phone="+14155550123")
    await api.new_instance(b, phone="+14155550123")
    response = await client.get("/api/instances/14155550123", headers=api.operator)
    assert response.status_code == 409
    assert response.json()["code"] == "ambiguous_phone"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "sandbox"}, "phone"),
        ({"phone": "12ab34567", "provider": "sandbox"}, "phone"),
        ({"phone": "+123", "provider": "sandbox"}, "phone"),
        ({"phone": "+1234567890123456", "provider": "sandbox"}, "phone"),
        ({"phone": "0044770090012", "provider": "sandbox"}, "phone"),
        ({"phone": "+14155550100", "provider": "telegram"}, "provider"),
        ({"phone": "+14155550100", "provider": "sandbox", "webhook": "ftp://x.example/"}, "webhook"),
        ({"phone": "+14155550100", "provider": "sandbox", "webhook": "not a url"}, "webhook"),
        ({"phone": "+14155550100", "provider": "sandbox", "resources": {"cpu": "lots"}}, "cpu"),
        ({"phone": "+14155550100", "provider": "sandbox", "resources": {"cpu": "0"}}, "cpu"),
        ({"phone": "+14155550100", "provider": "sandbox", "resources": {"cpu": "NaN"}}, "cpu"),
        ({"phone": "+14155550100", "provider": "sandbox", "resources": {"cpu": "0.001"}}, "cpu"),
        ({"phone": "+14155550100", "provider": "sandbox", "resources": {"memory": "512"}}, "memory"),
        ({"phone": "+14155550100", "provider": "sandbox", "resources": {"memory": "lots"}}, "memory"),
        ({"phone": "+14155550100", "provider": "sandbox", "resources": {"memory": "1t"}}, "memory"),
        ({"phone": "+14155550100", "provider": "sandbox", "name": "a\x00b"}, "name"),
        ({"phone": "+14155550100", "provider": "sandbox", "colour": "blue"}, "colour"),
    ],
)
async def test_bad_input_is_422_with_the_field_named(
    client: httpx.AsyncClient, api: Api, body: dict[str, object], field: str
) -> None:
    tenant = await api.new_tenant()
    response = await client.post("/api/instances", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert any(field in issue["loc"] for issue in problem["errors"]), problem
    assert (await client.get("/api/instances", headers=tenant.headers)).json()["data"] == []


async def test_resources_are_normalised(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant, resources={"cpu": 1.50, "memory": "2G"})
    assert instance["resources"] == {"cpu": "1.5", "memory": "2g"}


async def test_patch_cannot_change_phone_or_provider(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    for body in ({"phone": "+14155550999"}, {"provider": "baileys"}, {"resources": {"cpu": "-1"}}):
        response = await client.patch(f"/api/instances/{instance['id']}", json=body, headers=tenant.headers)
        assert response.status_code == 422, body
    assert (await client.get(f"/api/instances/{instance['id']}", headers=tenant.headers)).json() == instance


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    response = await client.post(
        "/api/instances",
        content=b'{"phone": "+1415',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_unknown_references_are_404(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    for reference in ("ins_01JDQ6W9Z8K3V7Q2X4N5M6P7R8", "14155550100", "nothing", "ins_%00", "%F0%9F%98%80"):
        response = await client.get(f"/api/instances/{reference}", headers=tenant.headers)
        assert response.status_code == 404, reference
        assert response.json()["code"] == "instance_not_found"
