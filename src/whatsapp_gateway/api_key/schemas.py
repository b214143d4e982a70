from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from whatsapp_gateway.text import DisplayName


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "production backend"}]})

    name: DisplayName


class ApiKey(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["key_01JDQ6W9Z8K3V7Q2X4N5M6P7R8"])
    tenant_id: str
    name: str
    prefix: str = Field(description="The key's first characters after `wagw_`, to tell keys apart.")
    created_at: dt.datetime
    last_used_at: dt.datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(
        description="The key itself. It is shown this once and never again: store it now.",
        examples=["wagw_k3v7q2x4_4Jx0…"],
    )
