"""Meta's errors and what the gateway makes of them.

Meta says to branch on `error.code` (with `error_data.details`), never on the HTTP status or the deprecated
`error_subcode`; so does this module. The groups below follow Meta's error-code table (see docs/providers/waba.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from whatsapp_gateway.provider.client import WorkerProblem


class Outcome(enum.Enum):
    token_invalid = "token_invalid"  # noqa: S105 - a name, not a password. The instance cannot work until its token is replaced
    throttled = "throttled"  # retried with backoff, then left queued
    undeliverable = "undeliverable"  # reported on the message (failed), e.g. the 24-hour window
    invalid_request = "invalid_request"  # the caller's mistake: 422
    not_permitted = "not_permitted"  # the account may not do that (now): 409
    unavailable = "unavailable"  # Meta is down or answered nonsense: left queued
    rejected = "rejected"  # any other refusal: 422


_AUTH = {0, 190}
_THROTTLED = {1, 2, 4, 80007, 130429, 131016, 131048, 131056, 131057}
# Delivery failures Meta usually reports later in a `failed` status, and sometimes at once.
_UNDELIVERABLE = {130472, 131026, 131030, 131047, 131049, 131050}
_INVALID = {100, 131008, 131009, 131021, 131051, 131052, 131053, 132000, 132001, 132005, 132007, 132012, 133010}
_NOT_PERMITTED = {3, 10, 368, 131005, 131031, 132015, 132016}


@dataclass
class GraphError(Exception):
    """An error answer of the Graph API (or no answer at all: `code` None)."""

    http_status: int
    code: int | None
    message: str
    details: str | None = None
    subcode: int | None = None
    fbtrace_id: str | None = None

    def __str__(self) -> str:
        text = f"({self.code}) {self.message}" if self.code is not None else self.message
        return f"{text}: {self.details}" if self.details and self.details not in self.message else text

    @classmethod
    def of_answer(cls, http_status: int, body: object) -> GraphError:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(http_status, None, f"Graph API answered HTTP {http_status} without an error body")
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        return cls(
            http_status,
            _int(error.get("code")),
            str(error.get("message") or "Graph API error")[:500],
            str(details)[:500] if details else None,
            _int(error.get("error_subcode")),
            str(error["fbtrace_id"])[:64] if error.get("fbtrace_id") else None,
        )

    @property
    def outcome(self) -> Outcome:
        code = self.code
        if code is None:
            return Outcome.unavailable if self.http_status >= 500 or self.http_status == 0 else Outcome.rejected
        if code in _AUTH:
            return Outcome.token_invalid
        if code in _THROTTLED:
            return Outcome.throttled
        if code in _UNDELIVERABLE:
            return Outcome.undeliverable
        if code in _INVALID:
            return Outcome.invalid_request
        if code in _NOT_PERMITTED or 200 <= code <= 299:
            return Outcome.not_permitted
        return Outcome.unavailable if self.http_status >= 500 else Outcome.rejected


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _problem(status: int, code: str, title: str, detail: str) -> WorkerProblem:
    return WorkerProblem(status, code, title, detail)


# What the API client sees. They are WorkerProblems so the message service treats them as it treats a worker's
# refusals (provider/direct.py).
def token_invalid(error: GraphError) -> WorkerProblem:
    return _problem(
        409,
        "waba_token_invalid",
        "Meta refused the instance's access token",
        f"{error}. The instance is `failed`: PATCH it with a new `config.access_token`.",
    )


def invalid_request(error: GraphError) -> WorkerProblem:
    return _problem(422, "waba_invalid_request", "Meta refused the request as invalid", str(error))


def not_permitted(error: GraphError) -> WorkerProblem:
    return _problem(409, "waba_not_permitted", "Meta does not let this number do that", str(error))


def rejected(error: GraphError) -> WorkerProblem:
    return _problem(422, "waba_rejected", "Meta refused the request", str(error))


def limit_exceeded(detail: str) -> WorkerProblem:
    return _problem(422, "waba_limit_exceeded", "The message is over one of the Cloud API's limits", detail)


def unsupported(detail: str) -> WorkerProblem:
    return _problem(422, "waba_unsupported", "The Cloud API cannot do that", detail)


def config_unreadable() -> WorkerProblem:
    return _problem(
        409,
        "waba_config_unreadable",
        "The instance's settings do not open",
        "Was SECRET_KEY changed? Set the config again.",
    )
