"""Validation of the unified send body (protocol §5) and the idempotency log behind `POST /v1/messages`."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sandbox_worker.log import Logger
from sandbox_worker.problems import Problem
from sandbox_worker.sends import MAX_MEDIA_BYTES, SentLog, validate_send

PNG = base64.b64encode(b"\x89PNG not really").decode()


def _body(**fields: object) -> dict[str, object]:
    return {"id": "msg_1", "to": "14155550100", "type": "text", "text": "Hello", **fields}


@pytest.mark.parametrize(
    "body",
    [
        _body(),
        _body(to="14155550100@s.whatsapp.net"),
        _body(to="120363025246125486@g.us"),
        _body(to="123456789012345@lid"),
        _body(reply_to="SBX123"),
        _body(type="image", text=None, media={"base64": PNG}, mimetype="image/png", caption="look"),
        _body(type="image", text=None, media={"base64": PNG, "mimetype": "image/png", "caption": "look"}),
        _body(type="document", text=None, media={"url": "https://example.com/a.pdf"}, filename="a.pdf"),
        _body(type="audio", text=None, media={"base64": PNG}, voice_note=True),
        _body(type="sticker", text=None, media={"base64": PNG}),
        _body(type="video", text=None, media={"url": "http://example.com/v.mp4"}),
        _body(type="location", text=None, location={"latitude": 52.5, "longitude": 13.4, "name": "Berlin"}),
        _body(type="contact", text=None, contact={"name": "Ann", "phones": ["14155550101"]}),
        _body(type="reaction", text=None, reaction={"message_id": "SBX1", "emoji": "👍"}),
        _body(type="reaction", text=None, reaction={"message_id": "SBX1", "emoji": ""}),
    ],
)
def test_valid_sends_are_accepted(body: dict[str, object]) -> None:
    send = validate_send({k: v for k, v in body.items() if v is not None})

    assert send.id == "msg_1"
    assert send.message["to"] == body["to"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not an object", 422, "invalid_request"),
        (_body(id=None), 422, "invalid_request"),
        (_body(id=""), 422, "invalid_request"),
        (_body(id="x" * 65), 422, "invalid_request"),
        (_body(id=7), 422, "invalid_request"),
        (_body(to="12345"), 422, "invalid_recipient"),
        (_body(to="1234567890123456"), 422, "invalid_recipient"),
        (_body(to="+14155550100"), 422, "invalid_recipient"),
        (_body(to="ann@example.com"), 422, "invalid_recipient"),
        (_body(to=14155550100), 422, "invalid_recipient"),
        (_body(type="poll"), 422, "unsupported_message_type"),
        (_body(type=None), 422, "invalid_request"),
        (_body(text=""), 422, "invalid_request"),
        (_body(text="x" * 4097), 422, "invalid_request"),
        (_body(text=None), 422, "invalid_request"),
        (_body(type="image", media=None), 422, "invalid_request"),
        (_body(type="image", media={}), 422, "invalid_request"),
        (_body(type="image", media={"url": "https://a", "base64": PNG}), 422, "invalid_request"),
        (_body(type="image", media={"url": "file:///etc/passwd"}), 422, "invalid_request"),
        (_body(type="image", media={"base64": "not base64!"}), 422, "invalid_request"),
        (_body(type="image", media={"base64": "A" * (MAX_MEDIA_BYTES * 4 // 3 + 8)}), 413, "media_too_large"),
        (_body(type="audio", media={"base64": PNG}, voice_note="yes"), 422, "invalid_request"),
        (_body(type="location", location={"latitude": 91, "longitude": 0}), 422, "invalid_request"),
        (_body(type="location", location={"latitude": "52", "longitude": 0}), 422, "invalid_request"),
        (_body(type="contact", contact={"name": "Ann", "phones": []}), 422, "invalid_request"),
        (_body(type="reaction", reaction={"emoji": "👍"}), 422, "invalid_request"),
    ],
)
def test_invalid_sends_are_refused_with_the_documented_code(body: object, status: int, code: str) -> None:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if v is not None}

    with pytest.raises(Problem) as raised:
        validate_send(body)

    assert (raised.value.status, raised.value.code) == (status, code)


def test_a_document_may_be_larger_than_other_media() -> None:
    big = base64.b64encode(b"\0" * (MAX_MEDIA_BYTES + 1)).decode()

    validate_send(_body(type="document", text=None, media={"base64": big}))
    with pytest.raises(Problem) as raised:
        validate_send(_body(type="image", text=None, media={"base64": big}))
    assert raised.value.code == "media_too_large"


def test_sent_results_survive_a_restart_and_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "sent.jsonl"
    log = SentLog(path, Logger("error"))
    log.put("msg_1", {"id": "msg_1", "provider_message_id": "SBX1", "status": "sent"})
    log.close()
    with path.open("ab") as file:
        file.write(b'{"id": "msg_2", "res')

    reopened = SentLog(path, Logger("error"))
    try:
        assert reopened.get("msg_1") == {"id": "msg_1", "provider_message_id": "SBX1", "status": "sent"}
        assert reopened.get("msg_2") is None
        reopened.put("msg_3", {"id": "msg_3"})
    finally:
        reopened.close()
    again = SentLog(path, Logger("error"))
    try:
        assert again.get("msg_3") == {"id": "msg_3"}
    finally:
        again.close()


def test_the_sent_log_keeps_only_the_newest_entries(tmp_path: Path) -> None:
    path = tmp_path / "sent.jsonl"
    log = SentLog(path, Logger("error"), keep=3)
    try:
        for n in range(10):
            log.put(f"msg_{n}", {"n": n})
        assert log.get("msg_0") is None
        assert log.get("msg_9") == {"n": 9}
    finally:
        log.close()
    assert len(path.read_bytes().splitlines()) <= 7
