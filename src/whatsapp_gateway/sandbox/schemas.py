from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from whatsapp_gateway.message.schemas import Contact, Location, MessageSend, MessageType, Reaction

# -- hub API (sandbox worker → control plane) ------------------------------------------------------


class DeviceSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: Annotated[str, Field(min_length=1, max_length=40)]
    device_secret: Annotated[str, Field(min_length=1, max_length=128)]


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session: DeviceSession | None = None


class Person(BaseModel):
    phone: str | None
    jid: str
    lid: str | None
    push_name: str | None = None


class ConnectResult(BaseModel):
    status: Literal["connected", "unpaired", "logged_out"]
    me: Person | None = None
    reason: str | None = None


class LoginOffer(BaseModel):
    qr: str | None = None
    code: str | None = None
    expires_at: dt.datetime


class PairCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Annotated[str, Field(min_length=1, max_length=32)]


class PollResult(BaseModel):
    items: list[dict[str, Any]]


class HubSendResult(BaseModel):
    provider_message_id: str
    status: Literal["sent"] = "sent"


class HubReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat: Annotated[str, Field(min_length=1, max_length=128)]
    message_ids: Annotated[list[Annotated[str, Field(max_length=128)]], Field(min_length=1, max_length=100)]
    sender: Annotated[str, Field(max_length=128)] | None = None


class HubPresenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat: Annotated[str, Field(min_length=1, max_length=128)]
    state: Annotated[str, Field(max_length=16)]


# -- public API (playing the phone and the outside world) --------------------------------------------


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"qr": "sandbox:1:Jx3…"}]})

    qr: Annotated[
        str,
        Field(min_length=1, max_length=128, pattern=r"^[!-~]+$", description="The QR string (GET /qr?format=json)."),
    ]


class EnterCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "ABCD-EFGH"}]})

    code: Annotated[
        str,
        Field(min_length=8, max_length=16, pattern=r"^[A-Za-z0-9 -]+$", description="The pair code (POST /pair-code)."),
    ]


class Linked(BaseModel):
    instance: str
    phone: str


class InstanceAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance: Annotated[str, Field(min_length=1, max_length=64, description="Instance id or phone number.")]
    reason: Annotated[str, Field(max_length=200)] | None = None


class InboundMedia(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base64: str
    mimetype: Annotated[str, Field(max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$")]
    filename: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    caption: Annotated[str, Field(max_length=1024)] | None = None


class InboundMessage(BaseModel):
    """A message from a simulated outside contact to a sandbox number."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"instance": "14155550100", "from": "+4915112345678", "type": "text", "text": "Hi there!"}]
        },
    )

    instance: Annotated[str, Field(min_length=1, max_length=64, description="Instance id or phone number.")]
    sender: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        validation_alias=AliasChoices("from", "sender"), serialization_alias="from", description="The contact's phone."
    )
    push_name: Annotated[str, Field(max_length=100)] | None = None
    type: MessageType
    text: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    media: InboundMedia | None = None
    voice_note: bool = False
    location: Location | None = None
    contact: Contact | None = None
    reaction: Reaction | None = None
    reply_to: Annotated[str, Field(max_length=128)] | None = None

    @model_validator(mode="after")
    def _content_matches_type(self) -> Self:
        if self.type is MessageType.poll:
            raise ValueError("the sandbox has no polls")
        # The same rules as an outbound message of that type.
        MessageSend.model_validate(
            {
                "to": self.sender,
                "type": self.type,
                "text": self.text,
                "media": {"base64": self.media.base64, "caption": self.media.caption} if self.media else None,
                "voice_note": self.voice_note,
                "location": self.location,
                "contact": self.contact,
                "reaction": self.reaction,
            }
        )
        return self


class InboundAccepted(BaseModel):
    provider_message_id: str


MAX_INBOUND_BATCH = 500


class InboundBatch(BaseModel):
    """Many messages from simulated contacts at once: for load tests, where one request per message would measure
    the requests rather than the messages."""

    model_config = ConfigDict(extra="forbid")

    messages: Annotated[list[InboundMessage], Field(min_length=1, max_length=MAX_INBOUND_BATCH)]


class InboundBatchAccepted(BaseModel):
    provider_message_ids: list[str] = Field(description="In the order of the messages given.")
