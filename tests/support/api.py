"""Short helpers for tests that talk to the API: make a tenant with a key, send with a key."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

_counter = itertools.count(1)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class TenantWithKey:
    id: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.key)


class Api:
    def __init__(self, client: httpx.AsyncClient, *, operator_key: str) -> None:
        self.client = client
        self.operator_key = operator_key
        self.webhook_secrets: dict[str, str] = {}  # instance id → its webhook's signing secret

    @property
    def operator(self) -> dict[str, str]:
        return bearer(self.operator_key)

    async def new_tenant(self, name: str | None = None) -> TenantWithKey:
        n = next(_counter)
        response = await self.client.post(
            "/api/tenants",
            json={"name": name or f"Tenant {n}", "email": f"t{n}@example.com"},
            headers=self.operator,
        )
        assert response.status_code == 201, response.text
        tenant_id = response.json()["id"]
        response = await self.client.post(
            f"/api/tenants/{tenant_id}/keys", json={"name": "test"}, headers=self.operator
        )
        assert response.status_code == 201, response.text
        return TenantWithKey(tenant_id, response.json()["key"], response.json()["id"])

    async def new_instance(self, tenant: TenantWithKey, **fields: Any) -> dict[str, Any]:
        body = {"phone": f"+1415555{next(_counter):04d}", "provider": "sandbox", **fields}
        response = await self.client.post("/api/instances", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        # Shown once, at creation: kept aside so the result compares equal to later reads of the instance.
        secret = result.pop("webhook_secret", None)
        if secret is not None:
            self.webhook_secrets[result["id"]] = secret
        return result
