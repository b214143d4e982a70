from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Literal, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, JsonValue, UrlConstraints, model_validator

from whatsapp_gateway.message.models import Message as MessageModel
from whatsapp_gateway.message.models import MessageStatus


class MessageType(enum.StrEnum):
    text = "text"
    image = "image"
    video = "video"
    audio = "audio"
    document = "document"
    sticker = "sticker"
    location = "location"
    contact = "contact"
    reaction = "reaction"
    poll = "poll"
    # The Cloud API's own kinds (provider `waba`): reply buttons and lists, and pre-approved templates.
    interactive = "interactive"
    template = "template"


MEDIA_TYPES = {MessageType.image, MessageType.video, MessageType.audio, MessageType.document, MessageType.sticker}
CAPTION_TYPES = {MessageType.image, MessageType.video, MessageType.document}

Recipient = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        description="A phone number (country code first; `+`, spaces, dashes ignored) or a JID (`…@s.whatsapp.net`, "
        "`…@g.us`, `…@lid`).",
        examples=["+14155550101"],
    ),
]
Text = Annotated[str, Field(min_length=1, max_length=4096)]


class Media(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["http", "https"])] | None = Field(
        None, description="Where the worker downloads the file from."
    )
    base64: str | None = Field(None, description="The file itself, base64-encoded (standard alphabet).")
    id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = Field(
        None, description="waba only: a media id already uploaded to Meta (`POST /{phone-number-id}/media`)."
    )
    mimetype: Annotated[str, Field(max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$")] | None = Field(
        None, examples=["image/jpeg"]
    )
    filename: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    caption: Annotated[str, Field(max_length=1024)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if sum(source is not None for source in (self.url, self.base64, self.id)) != 1:
            raise ValueError("give exactly one of `url`, `base64` and `id`")
        return self


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    name: Annotated[str, Field(max_length=256)] | None = None
    address: Annotated[str, Field(max_length=512)] | None = None


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=256)]
    phones: Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]], Field(min_length=1, max_length=10)]
    organization: Annotated[str, Field(max_length=256)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None


class Reaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: Annotated[str, Field(min_length=1, max_length=128, description="The provider's message id.")]
    emoji: Annotated[str, Field(max_length=16, description='One emoji; `""` removes the reaction.')]


class Poll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=255)]
    options: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=2, max_length=12)]
    selectable_count: Annotated[int, Field(ge=1, le=12)] = 1


class InteractiveButton(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=256, description="Comes back in the reply's event.")]
    title: Annotated[str, Field(min_length=1, max_length=256)]


class InteractiveRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=256)]
    title: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str, Field(max_length=256)] | None = None


class InteractiveSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(max_length=256)] | None = None
    rows: Annotated[list[InteractiveRow], Field(min_length=1, max_length=100)]


class Interactive(BaseModel):
    """Reply buttons or a list. The provider's own limits (the Cloud API: 3 buttons, titles of 20 characters) are
    checked when the message is sent, with their own error codes."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["buttons", "list"]
    body: Annotated[str, Field(min_length=1, max_length=4096)]
    header: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    footer: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    buttons: Annotated[list[InteractiveButton], Field(min_length=1, max_length=20)] | None = None
    button: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        None, description="For `list`: the label of the button that opens the list."
    )
    sections: Annotated[list[InteractiveSection], Field(min_length=1, max_length=20)] | None = None

    @model_validator(mode="after")
    def _fields_match_type(self) -> Self:
        if self.type == "buttons" and (self.buttons is None or self.sections is not None or self.button is not None):
            raise ValueError("`buttons` interactive messages take `buttons` (and no `button` or `sections`)")
        if self.type == "list" and (self.sections is None or self.button is None or self.buttons is not None):
            raise ValueError("`list` interactive messages take `button` and `sections` (and no `buttons`)")
        return self


class TemplateComponent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$", examples=["body"])]
    sub_type: Annotated[str, Field(max_length=32, pattern=r"^[a-z_]+$")] | None = None
    index: Annotated[int, Field(ge=0, le=99)] | None = None
    parameters: Annotated[list[dict[str, JsonValue]], Field(max_length=100)] | None = Field(
        None, description='As Meta documents them, e.g. `{"type": "text", "text": "Alex"}`.'
    )


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=512, examples=["order_update"])]
    language: Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z_]+$", examples=["en_US"])]
    components: Annotated[list[TemplateComponent], Field(max_length=20)] | None = None


_FIELD_OF_TYPE = {
    MessageType.text: "text",
    MessageType.location: "location",
    MessageType.contact: "contact",
    MessageType.reaction: "reaction",
    MessageType.poll: "poll",
    MessageType.interactive: "interactive",
    MessageType.template: "template",
    **{t: "media" for t in MEDIA_TYPES},
}
_CONTENT_FIELDS = {"text", "media", "location", "contact", "reaction", "poll", "interactive", "template"}


class MessageSend(BaseModel):
    """One outbound message of any type: `type` names the one content field it carries."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"to": "+14155550101", "type": "text", "text": "Your order has shipped."},
                {
                    "to": "14155550101",
                    "type": "image",
                    "media": {"url": "https://example.com/parcel.jpg", "caption": "On its way"},
                },
                {"to": "14155550101", "type": "location", "location": {"latitude": 52.52, "longitude": 13.405}},
            ]
        },
    )

    to: Recipient
    type: MessageType
    text: Text | None = None
    media: Media | None = None
    voice_note: bool = Field(False, description="For `audio`: send as a push-to-talk voice note.")
    location: Location | None = None
    contact: Contact | None = None
    reaction: Reaction | None = None
    poll: Poll | None = None
    interactive: Interactive | None = None
    template: Template | None = None
    reply_to: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        None, description="The provider message id of the message this one quotes."
    )

    @model_validator(mode="after")
    def _content_matches_type(self) -> Self:
        wanted = _FIELD_OF_TYPE[self.type]
        if getattr(self, wanted) is None:
            raise ValueError(f"a `{self.type}` message needs `{wanted}`")
        extra = sorted(f for f in _CONTENT_FIELDS - {wanted} if getattr(self, f) is not None)
        if extra:
            raise ValueError(f"a `{self.type}` message takes no {', '.join(f'`{f}`' for f in extra)}")
        if self.voice_note and self.type is not MessageType.audio:
            raise ValueError("`voice_note` is for `audio` messages")
        if self.media is not None and self.media.caption is not None and self.type not in CAPTION_TYPES:
            raise ValueError(f"a `{self.type}` message has no caption")
        return self


class TextSend(BaseModel):
    """The original sketch's send body: a text message."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "+14155550101", "type": "text", "text": "Hello from the gateway"}]},
    )

    to: Recipient
    type: Literal["text"] = "text"
    text: Text

    def as_message(self) -> MessageSend:
        return MessageSend(to=self.to, type=MessageType.text, text=self.text)


class Message(BaseModel):
    id: str = Field(examples=["msg_01JDQ6W9Z8K3V7Q2X4N5M6P7R8"])
    instance: str
    to: str
    type: str
    status: MessageStatus
    provider_message_id: str | None = Field(description="The engine's id of the message, once sent.")
    error: str | None
    idempotency_key: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    read_at: dt.datetime | None
    failed_at: dt.datetime | None

    @classmethod
    def from_model(cls, message: MessageModel) -> Message:
        return cls(
            id=message.id,
            instance=message.instance_id,
            to=message.recipient,
            type=message.type,
            status=message.status,
            provider_message_id=message.provider_message_id,
            error=message.error,
            idempotency_key=message.idempotency_key,
            created_at=message.created_at,
            sent_at=message.sent_at,
            delivered_at=message.delivered_at,
            read_at=message.read_at,
            failed_at=message.failed_at,
        )


class ReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat: Recipient
    message_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]], Field(min_length=1, max_length=100)
    ]
    sender: Recipient | None = Field(None, description="In groups: who sent the messages.")


class PresenceState(enum.StrEnum):
    composing = "composing"
    recording = "recording"
    paused = "paused"
    available = "available"
    unavailable = "unavailable"


class PresenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat: Recipient
    state: PresenceState
    message_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        None, description="waba only: the received message to show `composing` against (Meta requires one)."
    )


class ContactsCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phones: Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]], Field(min_length=1, max_length=50)]


class ContactCheck(BaseModel):
    phone: str
    on_whatsapp: bool
    jid: str | None = None
    lid: str | None = None


class ContactsCheckResult(BaseModel):
    results: list[ContactCheck]
