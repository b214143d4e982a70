from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from whatsapp_gateway.instance.fields import memory_bytes
from whatsapp_gateway.node.models import NodeStatus
from whatsapp_gateway.runtime.docker_api import EndpointInvalid, validate_endpoint

NodeName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="A DNS-label name.")]
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62})$")
MAX_LABELS = 32


def check_labels(labels: dict[str, str] | None) -> dict[str, str] | None:
    if labels is None:
        return None
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    for key, value in labels.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(f"label key {key!r}: letters, digits and . _ / -, at most 63 characters")
        if len(value) > 255:
            raise ValueError(f"label {key!r}: the value is longer than 255 characters")
    return labels


def _capacity(value: str | None) -> str | None:
    if value is not None:
        size = memory_bytes(value)
        if size < 64 * 1024**2:
            raise ValueError("must be at least 64m")
    return value


class NodeTLS(BaseModel):
    """PEM texts for `tcp://` with TLS: the CA of the engine's certificate, and the client certificate and key."""

    model_config = ConfigDict(extra="forbid")
    ca_pem: str = Field(max_length=20_000)
    cert_pem: str = Field(max_length=20_000)
    key_pem: str = Field(max_length=20_000)


class _NodeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] | None = Field(None, description="Free-form labels an instance's `node_selector` matches.")
    capacity_memory: str | None = Field(
        None,
        description='Memory the scheduler may reserve here, like "8g"; unset: the engine\'s total memory.',
        examples=["8g"],
    )
    advertise_address: str | None = Field(
        None,
        max_length=255,
        description=(
            "An address of this host the control plane can reach (a private network). Set: each worker's port is "
            "published on it. Unset: workers are reached at their container address, which works only when the "
            "control plane runs on the same host or Docker network."
        ),
    )
    gateway_url: str | None = Field(
        None,
        max_length=2000,
        pattern=r"^https?://",
        description="How workers on this node reach the control plane. Unset: INTERNAL_URL, else derived.",
    )
    network: str | None = Field(None, max_length=255, description="Docker network workers join (default: bridge).")

    _labels = field_validator("labels")(check_labels)
    _capacity = field_validator("capacity_memory")(_capacity)


class NodeCreate(_NodeSettings):
    name: NodeName
    endpoint: str = Field(
        max_length=2000,
        description="`unix:///var/run/docker.sock`, `tcp://host:2376` (with `tls`), or `ssh://user@host`.",
        examples=["unix:///var/run/docker.sock"],
    )
    tls: NodeTLS | None = Field(None, description="Client TLS for a `tcp://` engine (`dockerd --tlsverify`).")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        try:
            return validate_endpoint(value)
        except EndpointInvalid as exc:
            raise ValueError(str(exc)) from None


class NodeUpdate(_NodeSettings):
    status: NodeStatus | None = Field(
        None, description="`ready`, `cordoned` (place nothing new) or `draining` (also move its instances away)."
    )


class Node(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    endpoint: str
    tls: bool = Field(description="Whether TLS material is stored (never returned).")
    labels: dict[str, str]
    capacity_memory_bytes: int | None = Field(description="Reservable memory; null: the engine's total.")
    reserved_memory_bytes: int = Field(description="Sum of the memory limits of the instances placed here.")
    instances: int = Field(description="Instances placed on this node.")
    advertise_address: str | None
    gateway_url: str | None
    network: str | None
    status: NodeStatus
    reachable: bool
    facts: dict[str, Any] = Field(description="From the last health check: engine version, CPUs, memory.")
    last_seen_at: dt.datetime | None
    unreachable_since: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
