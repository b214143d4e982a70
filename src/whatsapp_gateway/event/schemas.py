from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from whatsapp_gateway.event.models import Event as EventModel

MAX_EVENTS_PER_BATCH = 500


class WorkerEvent(BaseModel):
    """One event as a worker reports it (protocol §6)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")]
    type: Annotated[str, Field(max_length=64, pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")]
    timestamp: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)


class WorkerEventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[WorkerEvent] = Field(max_length=MAX_EVENTS_PER_BATCH)


class IngestResult(BaseModel):
    accepted: int
    duplicates: int


class Event(BaseModel):
    """An event, as customers receive it (webhooks, the event list)."""

    id: str = Field(examples=["evt_01JDQ6W9Z8K3V7Q2X4N5M6P7R8"])
    type: str = Field(examples=["message.received"])
    instance: str | None = Field(
        examples=["ins_01JDQ6W9Z8K3V7Q2X4N5M6P7R8"],
        description="The instance it happened on; null for events about the tenant itself (`webhook.*`).",
    )
    timestamp: dt.datetime
    data: dict[str, Any]

    @classmethod
    def from_model(cls, event: EventModel) -> Event:
        return cls(
            id=event.event_id, type=event.type, instance=event.instance_id, timestamp=event.timestamp, data=event.data
        )
