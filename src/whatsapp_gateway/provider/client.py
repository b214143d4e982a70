"""The control plane's client of worker protocol v1 (docs/worker-protocol.md §4). Only this domain talks to workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from whatsapp_gateway.errors import Conflict, ProblemError, ServiceUnavailable
from whatsapp_gateway.provider.tokens import worker_token

log = structlog.get_logger(__name__)

# Short: a worker answers from memory or its engine; a send that takes longer is better retried than waited for.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)


class InstanceNotRunning(Conflict):
    code, title = "instance_not_running", "The instance's worker is not running"


class WorkerUnavailable(ServiceUnavailable):
    code, title = "worker_unavailable", "The instance's worker did not answer"


class WorkerProblem(ProblemError):
    """A problem document a worker answered with, passed on to the API client with the worker's status and code."""

    def __init__(self, status: int, code: str, title: str, detail: str | None) -> None:
        super().__init__(detail)
        self.status, self.code, self.title = status, code, title


@dataclass(frozen=True)
class WorkerTarget:
    instance_id: str
    epoch: int
    address: str | None


class WorkerClient:
    def __init__(self, http: httpx.AsyncClient, secret_key: bytes) -> None:
        self._http = http
        self._secret_key = secret_key

    async def request(
        self,
        target: WorkerTarget,
        method: str,
        path: str,
        *,
        json: object | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - a per-request HTTP timeout
    ) -> httpx.Response:
        if not target.address:
            raise InstanceNotRunning("Start the instance first, or wait until its worker is up.")
        headers = {
            "Authorization": f"Bearer {worker_token(self._secret_key, target.instance_id, target.epoch)}",
            "X-Worker-Epoch": str(target.epoch),
        }
        try:
            response = await self._http.request(
                method, f"http://{target.address}{path}", json=json, headers=headers, timeout=timeout
            )
        except httpx.TransportError as exc:
            log.warning("worker_unreachable", instance_id=target.instance_id, path=path, error=repr(exc))
            raise WorkerUnavailable(f"The worker did not answer ({type(exc).__name__}); try again shortly.") from exc
        if response.is_success:
            return response
        raise _problem_of(response)

    async def json(self, target: WorkerTarget, method: str, path: str, *, json: object | None = None) -> dict[str, Any]:
        response = await self.request(target, method, path, json=json)
        body = response.json() if response.content else {}
        if not isinstance(body, dict):
            raise WorkerProblem(502, "worker_error", "The worker answered something unexpected", None)
        return body


def _problem_of(response: httpx.Response) -> ProblemError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if (response.status_code >= 500 and response.status_code != 503) or not isinstance(body, dict):
        log.warning("worker_error", status=response.status_code, body=response.text[:500])
        return WorkerProblem(502, "worker_error", "The worker failed", f"The worker answered {response.status_code}.")
    code = body.get("code")
    title = body.get("title")
    detail = body.get("detail")
    return WorkerProblem(
        response.status_code,
        code if isinstance(code, str) and code else "worker_error",
        title if isinstance(title, str) and title else "The worker refused the request",
        detail if isinstance(detail, str) else None,
    )
