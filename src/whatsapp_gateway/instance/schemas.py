from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from whatsapp_gateway.instance.fields import normalize_cpu, normalize_memory, normalize_phone
from whatsapp_gateway.instance.models import (
    DEFAULT_CPU,
    DEFAULT_MEMORY,
    LIMIT_LENGTH,
    ConnectionState,
    DesiredState,
    InstanceStatus,
    Provider,
)
from whatsapp_gateway.instance.models import Instance as InstanceModel
from whatsapp_gateway.node.schemas import check_labels
from whatsapp_gateway.text import DisplayName
from whatsapp_gateway.waba.schemas import WabaConfig
from whatsapp_gateway.webhook.schemas import WebhookUrl


def _cpu_input(value: object) -> object:
    # CPU may come as a JSON number (0.5) or, as in the original sketch, a string ("0.5").
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Phone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        description="International number, country code first; `+`, spaces and dashes are ignored.",
        examples=["+14155550100"],
    ),
    AfterValidator(normalize_phone),
]
Cpu = Annotated[
    str,
    BeforeValidator(_cpu_input),
    Field(max_length=16, description="CPU cores the worker may use.", examples=["0.5"]),
    AfterValidator(normalize_cpu),
]
Memory = Annotated[
    str,
    # As long as the column at most: normalising never lengthens a size, so whatever passes here fits there.
    Field(max_length=LIMIT_LENGTH, description="Memory the worker may use (k, m, g).", examples=["512m"]),
    AfterValidator(normalize_memory),
]


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu: Cpu = DEFAULT_CPU
    memory: Memory = DEFAULT_MEMORY


class ResourcesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu: Cpu | None = None
    memory: Memory | None = None


class InstanceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "support line",
                    "phone": "+14155550100",
                    "provider": "sandbox",
                    "webhook": "https://app.example/hooks/whatsapp",
                    "resources": {"cpu": "0.5", "memory": "512m"},
                }
            ]
        },
    )

    name: DisplayName | None = None
    phone: Phone
    provider: Provider
    webhook: WebhookUrl | None = None
    resources: Resources = Field(default_factory=Resources)
    config: WabaConfig | None = Field(
        None, description="Required for `waba` (and only for it): the Cloud API number's settings. Never returned."
    )
    node_selector: Annotated[dict[str, str] | None, AfterValidator(check_labels)] = Field(
        None,
        description="`RUNTIME=docker`: labels a node must carry to run this instance (see `/api/nodes`).",
        examples=[{"region": "eu"}],
    )
    tenant_id: str | None = Field(
        None,
        max_length=64,
        description="The owning tenant: required with the operator's key; a tenant key owns what it creates.",
    )


class InstanceUpdate(BaseModel):
    """Fields left out stay as they are; `"webhook": null` removes the webhook."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "sales line", "resources": {"memory": "1g"}}]},
    )

    name: DisplayName | None = None
    webhook: WebhookUrl | None = None
    resources: ResourcesUpdate | None = None
    config: WabaConfig | None = Field(
        None, description="`waba`: new settings (a rotated access token); a `failed` instance is connected again."
    )


class ResourcesOut(BaseModel):
    cpu: str = Field(examples=["0.5"])
    memory: str = Field(examples=["512m"])


class Account(BaseModel):
    phone: str | None = None
    jid: str | None = None
    lid: str | None = Field(None, description="WhatsApp's privacy id for the number (`…@lid`), where known.")
    push_name: str | None = None


class Instance(BaseModel):
    id: str = Field(examples=["ins_01JDQ6W9Z8K3V7Q2X4N5M6P7R8"])
    tenant_id: str
    name: str | None
    phone: str = Field(description="Digits only, country code first.", examples=["14155550100"])
    provider: Provider
    webhook: str | None = Field(description="The instance's own webhook URL (an endpoint in `/api/webhooks`).")
    resources: ResourcesOut
    status: InstanceStatus = Field(description="The worker's lifecycle, as the control plane sees it.")
    connection_state: ConnectionState | None = Field(
        description="The WhatsApp connection, as the worker reports it; null before the worker first reports."
    )
    desired_state: DesiredState = Field(description="What the control plane keeps the worker at.")
    node: str | None = Field(description="The node that runs the worker, once placed.")
    node_selector: dict[str, str] | None = Field(description="Labels its node must carry.")
    status_reason: str | None = Field(description="Why it is in this status or state (a crash, a logout), if known.")
    account: Account | None = Field(description="The WhatsApp account it is logged in as, once connected.")
    epoch: int = Field(description="How many workers were started for it; a new worker gets the next number.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_model(cls, instance: InstanceModel) -> Instance:
        return cls(
            id=instance.id,
            tenant_id=instance.tenant_id,
            name=instance.name,
            phone=instance.phone_number,
            provider=instance.provider,
            webhook=instance.webhook_url,
            resources=ResourcesOut(cpu=instance.cpu_limit, memory=instance.memory_limit),
            status=instance.status,
            connection_state=instance.connection_state,
            desired_state=instance.desired_state,
            node=instance.node,
            node_selector=instance.node_selector,
            status_reason=instance.status_reason,
            account=Account.model_validate(instance.account) if instance.account else None,
            epoch=instance.epoch,
            created_at=instance.created_at,
            updated_at=instance.updated_at,
        )


class MigrateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_node: str = Field(max_length=64, description="The node's name or id.", examples=["node-2"])


class InstanceWithSecret(Instance):
    webhook_secret: str | None = Field(
        None,
        description=(
            "When this request gave the instance a webhook it did not have: the endpoint's signing secret "
            "(`whsec_…`), shown **once**. The endpoint is listed in `GET /api/webhooks?instance=…`."
        ),
    )


class InstanceFilters(BaseModel):
    provider: Provider | None = None
    status: InstanceStatus | None = None
    tenant_id: str | None = None


class PairCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Phone | None = Field(None, description="The number to link; defaults to the instance's own.")
