"""RFC 9457 problem details, used for every error the API returns.

Each problem carries a stable machine-readable `code` (documented in docs/errors.md); clients branch on `code`,
never on `title` or `detail`, which are for people and may change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:whatsapp-gateway:problem:"

log = structlog.get_logger(__name__)


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="Where the bad value is: `body`, `query` or `path`, then field names.")
    msg: str
    type: str


class Problem(BaseModel):
    type: str = Field(examples=[PROBLEM_TYPE_BASE + "instance_not_found"])
    title: str = Field(examples=["Instance not found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(None, examples=["No instance 'ins_01JD…' in this tenant."])
    instance: str | None = Field(None, description="The request path.", examples=["/api/instances/ins_01JD…"])
    code: str = Field(description="Stable, machine-readable error code.", examples=["instance_not_found"])
    request_id: str | None = None
    errors: list[ValidationIssue] | None = Field(None, description="Each invalid field, for `validation_error`.")


class ProblemError(Exception):
    """Raised anywhere below an endpoint to answer with a problem document."""

    status = 500
    code = "internal_error"
    title = "Internal server error"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Missing or invalid API key"


class Forbidden(ProblemError):
    status, code, title = 403, "forbidden", "This API key may not do that"


class NotFound(ProblemError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(ProblemError):
    status, code, title = 409, "conflict", "Conflict"


class UnprocessableInput(ProblemError):
    status, code, title = 422, "validation_error", "The request is not valid"


class ServiceUnavailable(ProblemError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


# Plain HTTP errors raised by the framework itself (unknown route, wrong method, …).
_HTTP_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Missing or invalid API key"),
    403: ("forbidden", "Forbidden"),
    404: ("route_not_found", "No such route"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: list[ValidationIssue] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    problem = Problem(
        type=PROBLEM_TYPE_BASE + code,
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        code=code,
        request_id=getattr(request.state, "request_id", None),
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _loc(parts: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in parts]


def _validation_problem(request: Request, issues: list[ValidationIssue]) -> JSONResponse:
    summary = "; ".join(f"{'.'.join(map(str, i.loc))}: {i.msg}" for i in issues[:5])
    return problem_response(
        request,
        status=422,
        code="validation_error",
        title="The request is not valid",
        detail=summary or None,
        errors=issues,
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, headers=exc.headers
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        issues = [
            ValidationIssue(loc=_loc(err.get("loc", ())), msg=str(err.get("msg", "")), type=str(err.get("type", "")))
            for err in exc.errors()
        ]
        return _validation_problem(request, issues)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # FastAPI answers a bare 400 when it cannot read a JSON body at all (bytes that are not UTF-8, nesting deeper
        # than the parser goes), but 422 for any other malformed JSON. Both are malformed JSON: one code for both.
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError | RecursionError):
            msg = "JSON must be encoded in UTF-8" if isinstance(cause, UnicodeDecodeError) else "JSON nested too deeply"
            return _validation_problem(request, [ValidationIssue(loc=["body"], msg=msg, type="json_invalid")])
        code, title = _HTTP_STATUS_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        return problem_response(
            request, status=exc.status_code, code=code, title=title, detail=detail, headers=exc.headers
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(request, status=500, code="internal_error", title="Internal server error")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring that these statuses answer with a problem document."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
