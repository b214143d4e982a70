from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, string_enum, utcnow
from whatsapp_gateway.ids import new_id

NODE_ID_PREFIX = "node"


class NodeStatus(enum.StrEnum):
    """What the operator lets the scheduler do with a node. `ready`: place instances; `cordoned`: keep what runs
    there, place nothing new; `draining`: move its instances away and place nothing new."""

    ready = "ready"
    cordoned = "cordoned"
    draining = "draining"


class Node(Base):
    """A Docker engine that runs workers (one container per instance)."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id(NODE_ID_PREFIX))
    name: Mapped[str] = mapped_column(String(63), unique=True)
    # unix:///var/run/docker.sock, tcp://host:2376, ssh://user@host
    endpoint: Mapped[str] = mapped_column(Text)
    # {ca_pem, cert_pem, key_pem} for tcp with TLS, sealed with crypto.SecretBox (context: the node id).
    tls_sealed: Mapped[str | None] = mapped_column(Text)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Memory the scheduler may reserve for instances here (the sum of their memory limits); null: the engine's total.
    capacity_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Where the control plane reaches workers on this node: with an address, each worker's port is published on it
    # (other hosts); without, workers are reached at their container address (the control plane shares the host or
    # the Docker network).
    advertise_address: Mapped[str | None] = mapped_column(String(255))
    # How workers on this node reach the control plane; null: derived (see docs/runtimes.md).
    gateway_url: Mapped[str | None] = mapped_column(Text)
    # The Docker network workers join; null: the engine's default bridge.
    network: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[NodeStatus] = mapped_column(string_enum(NodeStatus), default=NodeStatus.ready)
    # From the last successful health check: engine version, CPUs, memory, running containers.
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Set at the first failed health check after a good one; the node is unreachable while it is set.
    unreachable_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
