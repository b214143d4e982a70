"""A stored send (our `MessageSend`, as JSON) → the Cloud API's message body, with Meta's limits checked first.

Each limit refused here is one Meta would refuse (error 100/131009) after a round trip and a spent rate-limit token;
here it is a 422 `waba_limit_exceeded` that says which limit.
"""

from __future__ import annotations

from typing import Any

from whatsapp_gateway.waba import errors

# Meta's limits (docs/providers/waba.md lists the sources).
TEXT_MAX = 4096
CAPTION_MAX = 1024
INTERACTIVE_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_MAX = 60
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
SECTIONS_MAX = 10
ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
SECTION_TITLE_MAX = 24
ROW_ID_MAX = 200
TEMPLATE_NAME_MAX = 512
# Upload limits by kind (bytes) and the types Meta accepts for each.
MEDIA_MAX_BYTES = {
    "image": 5 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "document": 100 * 1024 * 1024,
    "sticker": 500 * 1024,
}
MEDIA_MIMETYPES = {
    "image": {"image/jpeg", "image/png"},
    "video": {"video/mp4", "video/3gpp"},
    "audio": {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"},
    "sticker": {"image/webp"},
}
MEDIA_KINDS = set(MEDIA_MAX_BYTES)


def recipient(to: str) -> str:
    """Meta addresses people by phone number (digits); groups and LIDs are not reachable this way."""
    if "@" not in to:
        return to
    user, _, server = to.partition("@")
    if server == "s.whatsapp.net":
        return user.split(":", 1)[0]
    raise errors.unsupported(f"The Cloud API sends to phone numbers only, not to {to!r}.")


def check_upload(kind: str, mimetype: str | None, size: int) -> str:
    """Refuse inline media Meta would not take; the mimetype to upload it with."""
    if not mimetype:
        raise errors.limit_exceeded("Inline media for the Cloud API needs `media.mimetype`.")
    base = mimetype.split(";", 1)[0].strip().lower()
    allowed = MEDIA_MIMETYPES.get(kind)
    if allowed is not None and base not in allowed:
        raise errors.limit_exceeded(f"A {kind} must be one of {', '.join(sorted(allowed))}, not {mimetype}.")
    if size > MEDIA_MAX_BYTES[kind]:
        raise errors.limit_exceeded(f"A {kind} may be at most {MEDIA_MAX_BYTES[kind]} bytes; this one is {size}.")
    return base


def message_body(payload: dict[str, Any], *, uploaded_media_id: str | None = None) -> dict[str, Any]:
    kind = str(payload["type"])
    meta_type = "contacts" if kind == "contact" else kind
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(str(payload["to"])),
        "type": meta_type,
    }
    if isinstance(payload.get("reply_to"), str):
        body["context"] = {"message_id": payload["reply_to"]}
    if kind == "text":
        text = str(payload["text"])
        _at_most(text, TEXT_MAX, "`text`")
        body["text"] = {"body": text, "preview_url": "://" in text}
    elif kind in MEDIA_KINDS:
        body[kind] = _media(kind, payload["media"], uploaded_media_id, voice=bool(payload.get("voice_note")))
    elif kind == "location":
        body["location"] = {k: v for k, v in payload["location"].items() if v is not None}
    elif kind == "contact":
        body["contacts"] = [_contact(payload["contact"])]
    elif kind == "reaction":
        body["reaction"] = {"message_id": payload["reaction"]["message_id"], "emoji": payload["reaction"]["emoji"]}
    elif kind == "interactive":
        body["interactive"] = _interactive(payload["interactive"])
    elif kind == "template":
        body["template"] = _template(payload["template"])
    else:
        raise errors.unsupported(f"The Cloud API cannot send `{kind}` messages.")
    return body


def _at_most(value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise errors.limit_exceeded(f"{what} may be at most {limit} characters; it has {len(value)}.")


def _media(kind: str, media: dict[str, Any], uploaded_media_id: str | None, *, voice: bool) -> dict[str, Any]:
    if uploaded_media_id is not None:
        out: dict[str, Any] = {"id": uploaded_media_id}
    elif media.get("id"):
        out = {"id": media["id"]}
    else:
        out = {"link": media["url"]}
    caption = media.get("caption")
    if caption:
        if kind not in ("image", "video", "document"):
            raise errors.limit_exceeded(f"A {kind} has no caption on the Cloud API.")
        _at_most(caption, CAPTION_MAX, "`media.caption`")
        out["caption"] = caption
    if kind == "document" and media.get("filename"):
        out["filename"] = media["filename"]
    if kind == "audio" and voice:
        out["voice"] = True
    return out


def _contact(contact: dict[str, Any]) -> dict[str, Any]:
    name = str(contact["name"]).strip()
    first, _, last = name.partition(" ")
    # Meta wants `formatted_name` and at least one of the other name fields.
    out: dict[str, Any] = {
        "name": {"formatted_name": name, "first_name": first, **({"last_name": last.strip()} if last.strip() else {})},
        "phones": [{"phone": phone, "type": "CELL"} for phone in contact["phones"]],
    }
    if contact.get("email"):
        out["emails"] = [{"email": contact["email"], "type": "WORK"}]
    if contact.get("organization"):
        out["org"] = {"company": contact["organization"]}
    return out


def _interactive(spec: dict[str, Any]) -> dict[str, Any]:
    _at_most(spec["body"], INTERACTIVE_BODY_MAX, "`interactive.body`")
    out: dict[str, Any] = {"type": "button" if spec["type"] == "buttons" else "list", "body": {"text": spec["body"]}}
    if spec.get("header"):
        _at_most(spec["header"], HEADER_TEXT_MAX, "`interactive.header`")
        out["header"] = {"type": "text", "text": spec["header"]}
    if spec.get("footer"):
        _at_most(spec["footer"], FOOTER_MAX, "`interactive.footer`")
        out["footer"] = {"text": spec["footer"]}
    if spec["type"] == "buttons":
        buttons = spec["buttons"]
        if len(buttons) > BUTTONS_MAX:
            raise errors.limit_exceeded(f"At most {BUTTONS_MAX} reply buttons; {len(buttons)} given.")
        _unique([b["id"] for b in buttons], "button ids")
        _unique([b["title"] for b in buttons], "button titles")
        for n, button in enumerate(buttons):
            _at_most(button["title"], BUTTON_TITLE_MAX, f"`interactive.buttons[{n}].title`")
            _at_most(button["id"], BUTTON_ID_MAX, f"`interactive.buttons[{n}].id`")
        out["action"] = {"buttons": [{"type": "reply", "reply": {"id": b["id"], "title": b["title"]}} for b in buttons]}
        return out
    _at_most(spec["button"], LIST_BUTTON_MAX, "`interactive.button`")
    sections = spec["sections"]
    if len(sections) > SECTIONS_MAX:
        raise errors.limit_exceeded(f"At most {SECTIONS_MAX} sections; {len(sections)} given.")
    rows = [row for section in sections for row in section["rows"]]
    if len(rows) > ROWS_MAX:
        raise errors.limit_exceeded(f"At most {ROWS_MAX} rows in all sections; {len(rows)} given.")
    _unique([row["id"] for row in rows], "row ids")
    out_sections = []
    for s, section in enumerate(sections):
        if len(sections) > 1 and not section.get("title"):
            raise errors.limit_exceeded(f"`interactive.sections[{s}].title` is required when there are several.")
        if section.get("title"):
            _at_most(section["title"], SECTION_TITLE_MAX, f"`interactive.sections[{s}].title`")
        out_rows = []
        for r, row in enumerate(section["rows"]):
            where = f"`interactive.sections[{s}].rows[{r}]"
            _at_most(row["title"], ROW_TITLE_MAX, f"{where}.title`")
            _at_most(row["id"], ROW_ID_MAX, f"{where}.id`")
            out_row = {"id": row["id"], "title": row["title"]}
            if row.get("description"):
                _at_most(row["description"], ROW_DESCRIPTION_MAX, f"{where}.description`")
                out_row["description"] = row["description"]
            out_rows.append(out_row)
        out_sections.append({**({"title": section["title"]} if section.get("title") else {}), "rows": out_rows})
    out["action"] = {"button": spec["button"], "sections": out_sections}
    return out


def _unique(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise errors.limit_exceeded(f"The {what} must be unique.")


def _template(spec: dict[str, Any]) -> dict[str, Any]:
    _at_most(spec["name"], TEMPLATE_NAME_MAX, "`template.name`")
    out: dict[str, Any] = {"name": spec["name"], "language": {"code": spec["language"]}}
    components = []
    for component in spec.get("components") or []:
        item: dict[str, Any] = {"type": component["type"]}
        if component.get("sub_type") is not None:
            item["sub_type"] = component["sub_type"]
        if component.get("index") is not None:
            item["index"] = str(component["index"])  # Meta documents the index as a string
        if component.get("parameters") is not None:
            item["parameters"] = component["parameters"]
        components.append(item)
    if components:
        out["components"] = components
    return out
