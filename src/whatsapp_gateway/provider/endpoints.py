from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.instance.models import Provider
from whatsapp_gateway.provider import registry

router = APIRouter(prefix="/api", tags=["providers"], responses=problem_responses(401))


class Capabilities(BaseModel):
    message_types: list[str] = Field(description="What `POST /messages` can send with this provider.")
    pair_code: bool = Field(description="Login by typing a code on the phone, besides the QR.")
    read_receipts: bool
    presence: bool
    contacts_check: bool


class ProviderOut(BaseModel):
    name: Provider
    description: str
    available: bool = Field(description="Whether instances of this provider can run on this gateway now.")
    unavailable_reason: str | None = Field(description="Why not, when not.")
    capabilities: Capabilities


class ProviderList(BaseModel):
    data: list[ProviderOut]


@router.get("/providers", response_model=ProviderList)
async def list_providers(principal: AuthenticatedPrincipal) -> ProviderList:
    """Every provider (engine), what it can do, and whether it can run on this host."""
    return ProviderList(
        data=[
            ProviderOut(
                name=info.name,
                description=info.description,
                available=info.available,
                unavailable_reason=info.unavailable_reason,
                capabilities=Capabilities(
                    message_types=sorted(info.message_types),
                    pair_code=info.pair_code,
                    read_receipts=info.read_receipts,
                    presence=info.presence,
                    contacts_check=info.contacts_check,
                ),
            )
            for info in registry.all_providers()
        ]
    )
