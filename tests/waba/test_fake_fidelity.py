"""The fake Graph API checked with an independent client: pywa (PyPI `pywa`), Meta's most complete Python SDK.

pywa is not a dependency of the project; this module is skipped without it. Run it with
`uv run --with pywa==4.5.0 pytest tests/waba/test_fake_fidelity.py`. pywa's base URL is Meta's and not configurable,
so its httpx client gets a transport that sends every request to the fake instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.fake_graph import (
    PAIR_LIMIT,
    RE_ENGAGEMENT,
    THROTTLED,
    FakeGraph,
    Number,
    invalid,
    running_fake_graph,
)
from tests.support.gateway import TINY_PNG

pywa = pytest.importorskip("pywa")
from pywa import WhatsApp, errors, types, utils  # noqa: E402 - after the skip

USER = "14155550101"


class ToFake(httpx.BaseTransport):
    def __init__(self, base_url: str) -> None:
        self._base = urlsplit(base_url)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self._base.scheme, host=self._base.hostname, port=self._base.port)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


_sessions: list[httpx.Client] = []


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGraph]:
    with running_fake_graph() as running:
        yield running
    while _sessions:
        _sessions.pop().close()


def client(fake: FakeGraph, number: Number) -> Any:
    session = httpx.Client(transport=ToFake(fake.url))
    _sessions.append(session)
    return WhatsApp(phone_id=number.phone_number_id, token=number.access_token, session=session)


def test_pywa_sends_every_kind_and_the_fake_takes_it(fake: FakeGraph) -> None:
    number = fake.add_number()
    wa = client(fake, number)
    sent = [
        wa.send_message(USER, "hi"),
        wa.send_message(USER, "Deliver?", buttons=[types.Button("Yes", "yes"), types.Button("No", "no")]),
        wa.send_message(
            USER,
            "Pick",
            buttons=types.SectionList("Slots", [types.Section("Today", [types.SectionRow("18:00", "t1", "Evening")])]),
        ),
        wa.send_image(USER, "https://example.com/a.jpg", caption="c"),
        wa.send_location(USER, 37.48, -122.14, name="HQ", address="1 Way"),
        wa.send_reaction(USER, "👍", "wamid.target"),
    ]
    assert all(s.id.startswith("wamid.") for s in sent)
    kinds = [body["type"] for body in fake.sent(number)]
    assert kinds == ["text", "interactive", "interactive", "image", "location", "reaction"]


def test_pywa_uploads_looks_up_and_downloads_media(fake: FakeGraph) -> None:
    number = fake.add_number()
    wa = client(fake, number)
    media = wa.upload_media(TINY_PNG, mime_type="image/png", filename="a.png")
    url = wa.get_media_url(media.id)
    assert (url.mime_type, url.file_size) == ("image/png", len(TINY_PNG))
    assert wa.get_media_bytes(url.url) == TINY_PNG
    wa.send_image(USER, media.id)
    assert fake.sent(number)[-1]["image"] == {"id": media.id}


def test_pywa_marks_read_and_shows_typing(fake: FakeGraph) -> None:
    wa = client(fake, fake.add_number())
    assert wa.mark_message_as_read("wamid.x").success
    assert wa.indicate_typing("wamid.x").success


@pytest.mark.parametrize(
    ("knobs", "forced", "expected"),
    [
        ({"token_expired": True}, None, "ExpiredAccessToken"),
        ({}, THROTTLED, "RateLimitHit"),
        ({}, PAIR_LIMIT, "TooManyMessages"),
        ({"window": "sync"}, None, "ReEngagementMessage"),
        ({}, invalid("to must be a phone number"), "InvalidParameter"),
    ],
    ids=["190", "130429", "131056", "131047", "131009"],
)
def test_the_fakes_errors_are_the_ones_pywa_knows(
    fake: FakeGraph, knobs: dict[str, Any], forced: Any, expected: str
) -> None:
    number = fake.add_number(**knobs)
    if forced is not None:
        number.forced = [forced]
    with pytest.raises(getattr(errors, expected)):
        client(fake, number).send_message(USER, "hi")


def test_pywa_validates_the_fakes_webhook_signatures_and_reads_its_updates(fake: FakeGraph) -> None:
    number = fake.add_number()
    wa = client(fake, number)
    payload = fake.inbound(number, "972987654321", "text", {"body": "Hello"}, name="Dana")
    body, headers = fake.signed(number, payload)
    assert utils.webhook_updates_validator(number.app_secret, body, headers["X-Hub-Signature-256"])
    assert not utils.webhook_updates_validator("other", body, headers["X-Hub-Signature-256"])
    message = types.Message.from_update(wa, payload)
    assert (message.text, message.from_user.wa_id, message.from_user.name) == ("Hello", "972987654321", "Dana")

    failed = fake.status(number, "wamid.abc", "failed", USER, errors=[RE_ENGAGEMENT])
    status = types.MessageStatus.from_update(wa, failed)
    assert status.status == types.MessageStatusType.FAILED
    assert isinstance(status.error, errors.ReEngagementMessage)
