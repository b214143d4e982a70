"""The unified send body (docs/worker-protocol.md §5): validation, outbound media, and the idempotency log."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from sandbox_worker.log import Logger
from sandbox_worker.problems import Problem, invalid_request

MESSAGE_TYPES = ("text", "image", "video", "audio", "document", "sticker", "location", "contact", "reaction")
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
MAX_MEDIA_BYTES = 16 * 1024 * 1024
MAX_DOCUMENT_BYTES = 100 * 1024 * 1024
MAX_ID_LENGTH = 64
MAX_TEXT_LENGTH = 4096
DOWNLOAD_TIMEOUT_SECONDS = 60.0
PRESENCE_STATES = ("composing", "recording", "paused", "available", "unavailable")

_PHONE = re.compile(r"^[0-9]{6,15}$")
# The user part of a JID is digits, optionally with a device (`:3`), or the creator-timestamp form of old groups.
_JID = re.compile(r"^[0-9]+(?:[-:.][0-9]+)*@(?:s\.whatsapp\.net|g\.us|lid)$")


def is_phone(value: object) -> bool:
    return isinstance(value, str) and bool(_PHONE.match(value))


def is_recipient(value: object) -> bool:
    return isinstance(value, str) and (bool(_PHONE.match(value)) or bool(_JID.match(value)))


def require_object(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise invalid_request("The body must be a JSON object.")
    return value


def _string(body: dict[str, object], key: str, *, where: str = "", required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise invalid_request(f"`{where}{key}` must be a string.")
    return value


def _non_empty(body: dict[str, object], key: str, *, where: str = "") -> str:
    value = _string(body, key, where=where)
    if not value:
        raise invalid_request(f"`{where}{key}` must not be empty.")
    return value


@dataclass(frozen=True)
class MediaSource:
    url: str | None
    base64: str | None
    mimetype: str | None
    filename: str | None
    caption: str | None
    limit: int


@dataclass(frozen=True)
class Send:
    id: str
    # The body for the hub, without media; `media` says where the bytes come from.
    message: dict[str, object]
    media: MediaSource | None


def validate_send(raw: object) -> Send:
    body = require_object(raw)
    message_id = body.get("id")
    if not isinstance(message_id, str) or not message_id or len(message_id) > MAX_ID_LENGTH:
        raise invalid_request(f"`id` must be a string of 1 to {MAX_ID_LENGTH} characters.")
    to = body.get("to")
    if not is_recipient(to):
        raise Problem(422, "invalid_recipient", "`to` must be a phone number (6 to 15 digits) or a WhatsApp JID.")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise invalid_request("`type` must be a string.")
    if kind not in MESSAGE_TYPES:
        raise Problem(422, "unsupported_message_type", f"The sandbox cannot send messages of type {kind!r}.")
    message: dict[str, object] = {"id": message_id, "to": to, "type": kind}
    reply_to = _string(body, "reply_to", required=False)
    if reply_to:
        message["reply_to"] = reply_to
    media: MediaSource | None = None
    if kind == "text":
        text = _string(body, "text")
        assert text is not None
        if not 1 <= len(text) <= MAX_TEXT_LENGTH:
            raise invalid_request(f"`text` must be 1 to {MAX_TEXT_LENGTH} characters.")
        message["text"] = text
    elif kind in MEDIA_TYPES:
        media = _media_source(body, kind)
        if kind == "audio":
            voice_note = body.get("voice_note", False)
            if not isinstance(voice_note, bool):
                raise invalid_request("`voice_note` must be a boolean.")
            message["voice_note"] = voice_note
    elif kind == "location":
        message["location"] = _location(body.get("location"))
    elif kind == "contact":
        message["contact"] = _contact(body.get("contact"))
    else:
        reaction = body.get("reaction")
        if not isinstance(reaction, dict):
            raise invalid_request("`reaction` must be an object with `message_id` and `emoji`.")
        target = _non_empty(reaction, "message_id", where="reaction.")
        emoji = _string(reaction, "emoji", where="reaction.")
        message["reaction"] = {"message_id": target, "emoji": emoji}
    return Send(message_id, message, media)


def _media_source(body: dict[str, object], kind: str) -> MediaSource:
    media = body.get("media")
    if not isinstance(media, dict):
        raise invalid_request("`media` must be an object with `url` or `base64`.")
    url = _string(media, "url", where="media.", required=False)
    encoded = _string(media, "base64", where="media.", required=False)
    if (url is None) == (encoded is None):
        raise invalid_request("`media` must have exactly one of `url` and `base64`.")
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise invalid_request("`media.url` must be an http:// or https:// URL.")

    # The protocol's table lists mimetype, filename and caption next to `media`; the hub wants them inside it.
    # Accept either place, the media object winning.
    def extra(key: str) -> str | None:
        value = media.get(key, body.get(key))
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid_request(f"`{key}` must be a string.")
        return value

    limit = MAX_DOCUMENT_BYTES if kind == "document" else MAX_MEDIA_BYTES
    if encoded is not None:
        # Checked here, not at send time, so a bad body is a 422/413 whatever the connection state.
        if len(encoded) * 3 // 4 > limit + 3:
            raise _too_large(limit)
        try:
            size = len(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise invalid_request("`media.base64` is not valid base64.") from None
        if size > limit:
            raise _too_large(limit)
        if size == 0:
            raise invalid_request("`media.base64` is empty.")
    # WhatsApp shows captions on images, videos and documents only; elsewhere one is dropped, not an error.
    caption = extra("caption") if kind in ("image", "video", "document") else None
    return MediaSource(
        url=url,
        base64=encoded,
        mimetype=extra("mimetype"),
        filename=extra("filename"),
        caption=caption,
        limit=limit,
    )


def _number(value: object, name: str, bound: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > bound:
        raise invalid_request(f"`location.{name}` must be a number between -{bound:g} and {bound:g}.")
    return float(value)


def _location(raw: object) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise invalid_request("`location` must be an object with `latitude` and `longitude`.")
    location: dict[str, object] = {
        "latitude": _number(raw.get("latitude"), "latitude", 90),
        "longitude": _number(raw.get("longitude"), "longitude", 180),
    }
    for key in ("name", "address"):
        value = _string(raw, key, where="location.", required=False)
        if value is not None:
            location[key] = value
    return location


def _contact(raw: object) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise invalid_request("`contact` must be an object with `name` and `phones`.")
    phones = raw.get("phones")
    if not isinstance(phones, list) or not phones or not all(isinstance(p, str) and p for p in phones):
        raise invalid_request("`contact.phones` must be a non-empty list of strings.")
    contact: dict[str, object] = {"name": _non_empty(raw, "name", where="contact."), "phones": phones}
    for key in ("organization", "email"):
        value = _string(raw, key, where="contact.", required=False)
        if value is not None:
            contact[key] = value
    return contact


def _too_large(limit: int) -> Problem:
    return Problem(413, "media_too_large", f"The media exceeds {limit} bytes.")


async def load_media(source: MediaSource) -> dict[str, object]:
    """The hub's media object: `{"base64", "mimetype", "filename"?, "caption"?}`."""
    downloaded_type = None
    if source.base64 is not None:
        # Already decoded once and measured by validate_send.
        encoded = source.base64
    else:
        assert source.url is not None
        data, downloaded_type = await asyncio.to_thread(_download, source.url, source.limit)
        if not data:
            raise invalid_request("The media at `media.url` is empty.")
        encoded = base64.b64encode(data).decode()
    media: dict[str, object] = {
        "base64": encoded,
        "mimetype": source.mimetype or downloaded_type or "application/octet-stream",
    }
    if source.filename is not None:
        media["filename"] = source.filename
    if source.caption is not None:
        media["caption"] = source.caption
    return media


class _DownloadTooLarge(Exception):
    pass


def _download(url: str, limit: int) -> tuple[bytes, str | None]:
    # Imported here: urllib.request drags in http.client and email, megabytes an idle worker never needs.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "wagw-sandbox-worker"})  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise _DownloadTooLarge
            data = response.read(limit + 1)
            if len(data) > limit:
                raise _DownloadTooLarge
            content_type = response.headers.get_content_type() if response.headers.get("Content-Type") else None
            return data, content_type
    except _DownloadTooLarge:
        raise _too_large(limit) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise invalid_request(f"Could not download the media: {exc}") from None


class SentLog:
    """Results of sends by client id, on disk, so a repeated `id` is answered without sending twice.

    An append-only JSON-lines file, rewritten with the newest `keep` entries when it doubles; a torn last line from a
    crash is ignored (that send was never answered, so its retry is a first attempt).
    """

    def __init__(self, path: Path, log: Logger, *, keep: int = 10_000) -> None:
        self._path = path
        self._keep = keep
        self._results: OrderedDict[str, dict[str, object]] = OrderedDict()
        lines = 0
        torn = False
        try:
            with path.open("rb") as file:
                for line in file:
                    lines += 1
                    torn = not line.endswith(b"\n")
                    try:
                        entry = json.loads(line)
                        self._results[str(entry["id"])] = dict(entry["result"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("sent log: skipping an unreadable line", path=str(path))
        except FileNotFoundError:
            pass
        while len(self._results) > keep:
            self._results.popitem(last=False)
        self._lines = lines
        if torn or lines > 2 * keep or lines != len(self._results):
            self._rewrite()
        self._file = path.open("ab")

    def get(self, message_id: str) -> dict[str, object] | None:
        return self._results.get(message_id)

    def put(self, message_id: str, result: dict[str, object]) -> None:
        self._results[message_id] = result
        self._file.write(json.dumps({"id": message_id, "result": result}).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._lines += 1
        while len(self._results) > self._keep:
            self._results.popitem(last=False)
        if self._lines > 2 * self._keep:
            self._file.close()
            self._rewrite()
            self._file = self._path.open("ab")

    def close(self) -> None:
        self._file.close()

    def _rewrite(self) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        with tmp.open("wb") as file:
            for message_id, result in self._results.items():
                file.write(json.dumps({"id": message_id, "result": result}).encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self._path)
        self._lines = len(self._results)
