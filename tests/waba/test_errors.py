"""Meta's answers mapped by error code: expired token, throttling, the 24-hour window, invalid parameters, and
Meta's limits checked before Meta is called."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.fake_graph import PAIR_LIMIT, THROTTLED, FakeGraph, graph_error
from tests.waba.conftest import WabaInstance

TEXT = {"to": "14155550101", "type": "text", "text": "hello"}


async def send(client: httpx.AsyncClient, waba: WabaInstance, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/api/instances/{waba.id}/messages", json=body, headers=waba.headers)


async def events(client: httpx.AsyncClient, waba: WabaInstance, type: str) -> list[dict[str, Any]]:
    page = await client.get(f"/api/instances/{waba.id}/events", params={"type": type}, headers=waba.headers)
    assert page.status_code == 200, page.text
    return list(page.json()["data"])


async def test_an_expired_token_fails_the_instance_with_an_event_until_a_new_one_is_set(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba(token_expired=True)
    refused = await send(client, waba, TEXT)
    assert (refused.status_code, refused.json()["code"]) == (409, "waba_token_invalid")

    instance = (await client.get(f"/api/instances/{waba.id}", headers=waba.headers)).json()
    assert instance["connection_state"] == "failed"
    assert "190" in instance["status_reason"]
    [event] = await events(client, waba, "instance.status")
    assert event["data"]["connection_state"] == "failed"
    # Nothing was kept of the refused message, and the next send is refused without calling Meta.
    assert (await client.get(f"/api/instances/{waba.id}/messages", headers=waba.headers)).json()["data"] == []
    again = await send(client, waba, TEXT)
    assert (again.status_code, again.json()["code"]) == (409, "not_connected")
    assert len(fake_graph.sent(waba.number)) == 1

    waba.number.access_token = "EAAG-rotated"
    waba.number.token_expired = False
    config = {**fake_graph.config_of(waba.number)}
    patched = await client.patch(f"/api/instances/{waba.id}", json={"config": config}, headers=waba.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["connection_state"] == "connected"
    assert "EAAG-rotated" not in patched.text
    assert (await send(client, waba, TEXT)).status_code == 202


@pytest.mark.parametrize("answer", [THROTTLED, PAIR_LIMIT], ids=["130429", "131056"])
async def test_throttling_is_retried_with_backoff_until_meta_takes_the_message(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any, answer: Any
) -> None:
    waba: WabaInstance = await new_waba()
    waba.number.forced = [answer, answer]
    response = await send(client, waba, TEXT)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "sent"
    assert len(fake_graph.sent(waba.number)) == 3


async def test_throttling_that_lasts_leaves_the_message_queued_for_the_retry_loop(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    waba.number.forced = [THROTTLED] * 4
    response = await send(client, waba, TEXT)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    assert len(fake_graph.sent(waba.number)) == 4


async def test_the_24_hour_window_error_is_reported_on_the_message(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba(window="sync")
    response = await send(client, waba, TEXT)
    assert response.status_code == 202, response.text
    message = response.json()
    assert message["status"] == "failed"
    assert message["error"].startswith("(131047)")
    [event] = await events(client, waba, "message.status")
    assert event["data"]["id"] == message["id"]
    assert event["data"]["status"] == "failed"
    assert event["data"]["errors"][0]["code"] == 131047
    # A template may be sent outside the window.
    template = {"to": "14155550101", "type": "template", "template": {"name": "hello_world", "language": "en_US"}}
    assert (await send(client, waba, template)).json()["status"] == "sent"


async def test_invalid_parameters_from_meta_are_a_422_and_nothing_is_kept(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    waba.number.forced = [(400, graph_error(100, "(#100) Invalid parameter", details="Param to is invalid"))]
    response = await send(client, waba, TEXT)
    assert (response.status_code, response.json()["code"]) == (422, "waba_invalid_request")
    assert "Param to is invalid" in response.json()["detail"]
    assert (await client.get(f"/api/instances/{waba.id}/messages", headers=waba.headers)).json()["data"] == []


LIMITS = [
    (
        "four buttons",
        {"type": "buttons", "body": "b", "buttons": [{"id": str(n), "title": str(n)} for n in range(4)]},
    ),
    ("long button title", {"type": "buttons", "body": "b", "buttons": [{"id": "a", "title": "x" * 21}]}),
    (
        "duplicate ids",
        {"type": "buttons", "body": "b", "buttons": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]},
    ),
    (
        "eleven rows",
        {
            "type": "list",
            "body": "b",
            "button": "Open",
            "sections": [{"rows": [{"id": str(n), "title": "r"} for n in range(11)]}],
        },
    ),
    (
        "long row title",
        {"type": "list", "body": "b", "button": "Open", "sections": [{"rows": [{"id": "r", "title": "x" * 25}]}]},
    ),
    ("long header", {"type": "buttons", "header": "h" * 61, "body": "b", "buttons": [{"id": "a", "title": "A"}]}),
]


@pytest.mark.parametrize("interactive", [c[1] for c in LIMITS], ids=[c[0] for c in LIMITS])
async def test_meta_limits_are_checked_before_meta_is_called(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any, interactive: dict[str, Any]
) -> None:
    waba: WabaInstance = await new_waba()
    response = await send(client, waba, {"to": "14155550101", "type": "interactive", "interactive": interactive})
    assert (response.status_code, response.json()["code"]) == (422, "waba_limit_exceeded"), response.text
    assert fake_graph.sent(waba.number) == []


async def test_groups_and_unsupported_types_are_refused_with_stable_codes(
    client: httpx.AsyncClient, fake_graph: FakeGraph, new_waba: Any
) -> None:
    waba: WabaInstance = await new_waba()
    group = await send(client, waba, {**TEXT, "to": "120363025246125486@g.us"})
    assert (group.status_code, group.json()["code"]) == (422, "waba_unsupported")
    poll = await send(client, waba, {"to": "14155550101", "type": "poll", "poll": {"name": "q", "options": ["a", "b"]}})
    assert (poll.status_code, poll.json()["code"]) == (422, "unsupported_message_type")
    svg = {"base64": "PHN2Zz4=", "mimetype": "image/svg+xml"}
    media = await send(client, waba, {"to": "14155550101", "type": "image", "media": svg})
    assert (media.status_code, media.json()["code"]) == (422, "waba_limit_exceeded")
    assert fake_graph.sent(waba.number) == []
