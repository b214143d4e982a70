from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from whatsapp_gateway.text import DisplayName


class TenantCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Acme Support", "email": "ops@acme.example"}]},
    )

    name: DisplayName
    email: EmailStr = Field(max_length=254)


class Tenant(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["ten_01JDQ6W9Z8K3V7Q2X4N5M6P7R8"])
    name: str
    email: str
    created_at: dt.datetime
    updated_at: dt.datetime
