from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator (every tenant, admin routes) or one tenant through one of its keys."""

    tenant_id: str | None
    key_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None

    def can_see_tenant(self, tenant_id: str) -> bool:
        return self.is_operator or self.tenant_id == tenant_id


OPERATOR = Principal(tenant_id=None, key_id=None)
