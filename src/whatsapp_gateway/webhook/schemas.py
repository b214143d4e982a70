from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    UrlConstraints,
    model_validator,
)

from whatsapp_gateway.webhook.models import DeliveryStatus, DisabledReason, WebhookDelivery, WebhookEndpoint

# Every type a customer may receive (docs/architecture.md, "Events").
EVENT_TYPES = (
    "instance.status",
    "session.qr",
    "session.pair_code",
    "session.connected",
    "session.disconnected",
    "session.logged_out",
    "session.banned",
    "message.received",
    "message.sent",
    "message.status",
    "message.reaction",
    "message.edited",
    "message.revoked",
    "call.received",
    "presence.update",
    "webhook.endpoint_disabled",
    "webhook.test",
)
MAX_CUSTOM_HEADERS = 20
MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600
# Headers the gateway sets itself: a custom header may not replace them.
RESERVED_HEADERS = frozenset(
    {"host", "content-type", "content-length", "transfer-encoding", "connection", "user-agent", "expect", "te"}
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")

WebhookUrl = Annotated[
    AnyHttpUrl,
    UrlConstraints(max_length=2048, allowed_schemes=["http", "https"], host_required=True),
    Field(description="Where events are posted (http or https).", examples=["https://app.example/hooks/whatsapp"]),
]


def _known_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
    return sorted(set(types))


def _valid_headers(headers: dict[str, str]) -> dict[str, str]:
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise ValueError(f"at most {MAX_CUSTOM_HEADERS} headers")
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if lower in RESERVED_HEADERS or lower.startswith("webhook-"):
            raise ValueError(f"{name!r} is set by the gateway and cannot be replaced")
        if lower in seen:
            raise ValueError(f"{name!r} is given twice")
        seen.add(lower)
        if len(value) > 1024 or not value.isprintable():
            raise ValueError(f"the value of {name!r} must be printable and at most 1024 characters")
    return headers


EventTypes = Annotated[
    list[str],
    Field(
        max_length=len(EVENT_TYPES),
        description="Only these event types are sent; empty or absent: every type.",
        examples=[["message.received", "message.status"]],
    ),
    AfterValidator(_known_types),
]
CustomHeaders = Annotated[
    dict[str, str],
    Field(description="Sent with every delivery (for example a receiver's own credentials). Stored encrypted."),
    AfterValidator(_valid_headers),
]
Description = Annotated[str, Field(max_length=200)]


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://app.example/hooks/whatsapp", "event_types": ["message.received"]}]
        },
    )

    url: WebhookUrl
    description: Description | None = None
    event_types: EventTypes = Field(default_factory=list)
    headers: CustomHeaders = Field(default_factory=dict)
    instance: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="Only this instance's events (id or phone number). Absent: every instance of the tenant."
    )
    enabled: bool = True
    tenant_id: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="With the operator's key: the tenant it belongs to. A tenant key makes its own."
    )


class WebhookEndpointUpdate(BaseModel):
    """Fields left out stay as they are; `"description": null` clears the description. Turning an endpoint back on
    sends the deliveries that waited; dead letters go out again only with `POST /api/webhooks/{id}/redeliver`."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    headers: CustomHeaders | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _refuse_meaningless_nulls(self) -> WebhookEndpointUpdate:
        nulls = [
            name
            for name in ("url", "event_types", "headers", "enabled")
            if name in self.model_fields_set and getattr(self, name) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null: leave a field out to keep it as it is")
        return self


class WebhookEndpointOut(BaseModel):
    id: str = Field(examples=["whe_01JDQ6W9Z8K3V7Q2X4N5M6P7R8"])
    tenant_id: str
    instance: str | None = Field(description="The one instance whose events it receives; null: every instance.")
    instance_webhook: bool = Field(description="It is the instance's own `webhook` (set through the instance).")
    url: str
    description: str | None
    event_types: list[str]
    header_names: list[str] = Field(description="Names of the custom headers; their values are never shown again.")
    enabled: bool
    disabled_reason: DisabledReason | None
    disabled_at: dt.datetime | None
    failing_since: dt.datetime | None = Field(description="Since when every attempt has failed; null when healthy.")
    previous_secret_expires_at: dt.datetime | None = Field(
        description="During a secret rotation: until when the previous secret also signs."
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_model(cls, endpoint: WebhookEndpoint, header_names: list[str]) -> WebhookEndpointOut:
        return cls(
            id=endpoint.id,
            tenant_id=endpoint.tenant_id,
            instance=endpoint.instance_id,
            instance_webhook=endpoint.instance_webhook,
            url=endpoint.url,
            description=endpoint.description,
            event_types=endpoint.event_types,
            header_names=header_names,
            enabled=endpoint.enabled,
            disabled_reason=DisabledReason(endpoint.disabled_reason) if endpoint.disabled_reason else None,
            disabled_at=endpoint.disabled_at,
            failing_since=endpoint.failing_since,
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`), shown **once**. Verify deliveries with it (Standard Webhooks).",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_secret_valid_for_seconds: Annotated[int, Field(ge=0, le=MAX_ROTATION_OVERLAP_SECONDS)] = Field(
        86400, description="How long the old secret keeps signing beside the new one, so receivers can switch over."
    )


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret, shown **once**.")
    previous_secret_expires_at: dt.datetime | None


class Delivery(BaseModel):
    id: int
    endpoint_id: str
    event_id: str
    event_type: str
    instance: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None = Field(description="When it is tried again, while pending after a failure.")
    last_attempt_at: dt.datetime | None
    last_status_code: int | None = Field(description="The receiver's last HTTP status; null if it did not answer.")
    last_error: str | None
    last_latency_ms: int | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, delivery: WebhookDelivery, event_id: str, event_type: str, instance: str | None) -> Delivery:
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event_id=event_id,
            event_type=event_type,
            instance=instance,
            status=DeliveryStatus(delivery.status),
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at if delivery.status == DeliveryStatus.pending else None,
            last_attempt_at=delivery.last_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            last_latency_ms=delivery.last_latency_ms,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


class DeliveryFilters(BaseModel):
    status: DeliveryStatus | None = None


class RedeliverFailed(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"since": "2026-11-26T00:00:00Z"}]})

    since: AwareDatetime = Field(description="Dead-lettered deliveries created at or after this time are sent again.")
    until: AwareDatetime | None = Field(None, description="…and before this time (default: now).")


class Redelivered(BaseModel):
    redelivered: int = Field(description="How many deliveries were queued again.")
