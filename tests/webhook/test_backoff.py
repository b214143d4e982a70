"""When a failed delivery is tried again: the retry schedule with jitter, and the receiver's Retry-After."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable

import pytest

from tests.support.receiver import Received, Receiver, running_receiver
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.webhook.client import DeliveryClient
from whatsapp_gateway.webhook.repository import PendingDelivery
from whatsapp_gateway.webhook.service import RetryPolicy
from whatsapp_gateway.webhook.signing import new_secret
from whatsapp_gateway.webhook.targets import TargetResolver
from whatsapp_gateway.webhook.tasks import Outcome, Sender, backoff, parse_retry_after

POLICY = RetryPolicy(delays=[5.0, 30.0, 120.0])  # a horizon of 155 s
SAMPLES = 300


@pytest.mark.parametrize(("failures", "scheduled"), [(1, 5.0), (2, 30.0), (3, 120.0)])
def test_each_retry_waits_its_schedule_entry_give_or_take_20_percent(failures: int, scheduled: float) -> None:
    delays = [backoff(POLICY, failures, None) for _ in range(SAMPLES)]
    assert all(scheduled * 0.8 <= d <= scheduled * 1.2 for d in delays)
    # Jittered, so that receivers coming back up are not hit by every queue at once.
    assert len(set(delays)) > SAMPLES // 2
    assert min(delays) < scheduled * 0.95
    assert max(delays) > scheduled * 1.05


@pytest.mark.parametrize("failures", [4, 10, 1000])
def test_past_the_schedule_the_last_entry_is_used(failures: int) -> None:
    delays = [backoff(POLICY, failures, None) for _ in range(SAMPLES)]
    assert all(120.0 * 0.8 <= d <= 120.0 * 1.2 for d in delays)


def test_a_longer_retry_after_is_honoured() -> None:
    assert backoff(POLICY, 1, 100.0) == 100.0


def test_a_shorter_retry_after_does_not_shorten_the_schedule() -> None:
    delays = [backoff(POLICY, 2, 1.0) for _ in range(SAMPLES)]
    assert all(30.0 * 0.8 <= d <= 30.0 * 1.2 for d in delays)


def test_retry_after_is_capped_at_the_policy_horizon() -> None:
    # A receiver asking for a day is not allowed to hold the queue past when the delivery dead-letters anyway.
    assert backoff(POLICY, 1, 86400.0) == POLICY.horizon.total_seconds() == 155.0
    assert backoff(POLICY, 1, 1e20) == 155.0


NOW = dt.datetime(2026, 11, 26, 10, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (email.utils.format_datetime(NOW + dt.timedelta(seconds=90), usegmt=True), 90.0),
        ("Thu, 26 Nov 2026 10:02:00 GMT", 120.0),
        ("Thu, 26 Nov 2026 11:00:00 +0100", 0.0),  # the same instant as NOW
        ("Thu, 26 Nov 2026 09:00:00 GMT", 0.0),  # in the past: now
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "-5", "1.5", "Thu, 99 Foo 2026 10:00:00 GMT", "1 2 3"])
def test_garbage_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize("value", ["²", "³", "¹"])
def test_superscript_digits_are_garbage_not_a_crash(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


# -- the same, end to end through a real receiver ---------------------------------------------------------------


def _event() -> PendingDelivery:
    return PendingDelivery(
        id=1,
        deadline_at=utcnow(),
        event_id="evt_backoff_1",
        type="webhook.test",
        instance_id=None,
        timestamp=utcnow(),
        data={"message": "hello"},
    )


async def _send(receiver: Receiver) -> Outcome:
    client = DeliveryClient()
    try:
        sender = Sender(client, TargetResolver(allow_private=True), timeout=5.0)
        return await sender.send(receiver.url, [new_secret()], {}, _event())
    finally:
        await client.aclose()


def answering(status: int, headers: dict[str, str]) -> Callable[[int, Received], tuple[int, dict[str, str]]]:
    return lambda _number, _request: (status, headers)


@pytest.mark.parametrize("status", [429, 503])
async def test_a_receivers_retry_after_reaches_the_outcome(status: int) -> None:
    with running_receiver(answering(status, {"Retry-After": "42"})) as receiver:
        outcome = await _send(receiver)
    assert not outcome.delivered
    assert outcome.status_code == status
    assert outcome.retry_after == 42.0
    assert outcome.error == f"answered HTTP {status}"
    assert len(receiver.all()) == 1


async def test_retry_after_is_only_read_from_429_and_503() -> None:
    with running_receiver(answering(500, {"Retry-After": "42"})) as receiver:
        outcome = await _send(receiver)
    assert outcome.status_code == 500
    assert outcome.retry_after is None


async def test_a_malformed_retry_after_is_a_plain_failure() -> None:
    with running_receiver(answering(429, {"Retry-After": "²"})) as receiver:
        outcome = await _send(receiver)
    assert outcome.status_code == 429
    assert outcome.retry_after is None
