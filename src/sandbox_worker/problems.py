"""Errors the worker answers as RFC 9457 problem documents (docs/worker-protocol.md §8)."""

from __future__ import annotations

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Unprocessable content",
    500: "Internal error",
    501: "Not implemented",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raised anywhere below an endpoint; the HTTP server turns it into a problem+json answer."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail

    def document(self) -> dict[str, object]:
        return {
            "type": "about:blank",
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }


def invalid_request(detail: str) -> Problem:
    return Problem(422, "invalid_request", detail)


def not_connected() -> Problem:
    return Problem(409, "not_connected", "The worker is not connected to WhatsApp.")


def engine_unavailable(detail: str) -> Problem:
    return Problem(503, "engine_unavailable", detail)
