"""The Graph API calls the provider needs: send, upload and fetch media. Plain httpx, base URL `WABA_GRAPH_URL`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from whatsapp_gateway.waba.errors import GraphError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Credentials:
    phone_number_id: str
    access_token: str
    api_version: str


class GraphClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, credentials: Credentials, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /{version}/{phone-number-id}/messages`: messages, read receipts and the typing indicator."""
        return await self._json(credentials, "POST", f"{credentials.phone_number_id}/messages", json=body)

    async def upload(self, credentials: Credentials, content: bytes, mimetype: str, filename: str) -> str:
        """`POST /{version}/{phone-number-id}/media` (multipart): the new media id."""
        answer = await self._json(
            credentials,
            "POST",
            f"{credentials.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mimetype},
            files={"file": (filename, content, mimetype)},
        )
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise GraphError(502, None, "Graph API answered an upload without a media id")
        return media_id

    async def download(self, credentials: Credentials, media_id: str, *, max_bytes: int) -> tuple[bytes, str]:
        """`GET /{version}/{media-id}`, then its short-lived `url` with the same token: the file and its type."""
        info = await self._json(credentials, "GET", media_id, params={"phone_number_id": credentials.phone_number_id})
        url = info.get("url")
        if not isinstance(url, str) or not self._may_carry_token(url):
            raise GraphError(502, None, "Graph API answered a media lookup without a usable url")
        headers = {"Authorization": f"Bearer {credentials.access_token}"}
        try:
            async with self._http.stream("GET", url, headers=headers, follow_redirects=True) as response:
                if not response.is_success:
                    await response.aread()
                    raise GraphError.of_answer(response.status_code, _json_or_none(response))
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise GraphError(413, None, f"The media is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                mimetype = info.get("mime_type") or response.headers.get("content-type") or "application/octet-stream"
                return b"".join(chunks), str(mimetype)
        except httpx.TransportError as exc:
            raise GraphError(0, None, f"Graph API unreachable ({type(exc).__name__})") from exc

    def _may_carry_token(self, url: str) -> bool:
        # The download url comes from Meta's answer; the token only ever goes to Meta's own https hosts, or to the
        # configured Graph API origin (a fake, a proxy).
        parts, own = urlsplit(url), urlsplit(self._base_url)
        if (parts.scheme, parts.netloc) == (own.scheme, own.netloc):
            return True
        host = parts.hostname or ""
        return parts.scheme == "https" and (host.endswith(".fbsbx.com") or host.endswith(".facebook.com"))

    async def _json(
        self,
        credentials: Credentials,
        method: str,
        path: str,
        **kwargs: Any,
    ) -> dict[str, Any]:
        url = f"{self._base_url}/{credentials.api_version}/{path}"
        headers = {"Authorization": f"Bearer {credentials.access_token}"}
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            log.warning("graph_unreachable", path=path, error=repr(exc))
            raise GraphError(0, None, f"Graph API unreachable ({type(exc).__name__})") from exc
        body = _json_or_none(response)
        if not response.is_success:
            error = GraphError.of_answer(response.status_code, body)
            log.info(
                "graph_error", path=path, status=response.status_code, code=error.code, fbtrace_id=error.fbtrace_id
            )
            raise error
        if not isinstance(body, dict):
            raise GraphError(502, None, "Graph API answered something that is not a JSON object")
        return body


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
