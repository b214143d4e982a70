"""A fake of Meta's Graph API (WhatsApp Cloud API) on loopback: a real HTTP server in a thread.

It follows the documented shapes (../shared/reference/engines.md §A): `POST /{version}/{phone-number-id}/messages`
(messages, read receipts, typing), `POST /{version}/{phone-number-id}/media` (multipart upload), `GET` and `DELETE
/{version}/{media-id}`, and the download url it hands out, which wants the same bearer token. It checks what Meta
checks (the token, the number, required fields, the limits of interactive messages, media kinds) and answers with
Meta's error envelope (`error.code`, `error_subcode`, `error_data.details`, `fbtrace_id`). Knobs per number: an
expired token, the 24-hour window (refused at once, or accepted and failed later by a status webhook), throughput,
errors forced on the next calls, and statuses to report after each send. It also plays Meta's webhook side: it posts
payloads signed with `X-Hub-Signature-256` and performs the subscription handshake.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

VERSION = r"v\d+\.\d+"
SEND = re.compile(rf"^/{VERSION}/([0-9]+)/messages$")
UPLOAD = re.compile(rf"^/{VERSION}/([0-9]+)/media$")
OBJECT = re.compile(rf"^/{VERSION}/([0-9]+)$")
DOWNLOAD = re.compile(r"^/download/([0-9]+)$")
MESSAGE_TYPES = {
    "text", "image", "audio", "video", "document", "sticker", "location", "contacts", "interactive", "template",
    "reaction",
}  # fmt: skip
MEDIA_KINDS = {"image", "audio", "video", "document", "sticker"}
UPLOAD_TYPES = {
    "image/jpeg", "image/png", "image/webp", "video/mp4", "video/3gpp", "audio/aac", "audio/amr", "audio/mpeg",
    "audio/mp4", "audio/ogg", "application/pdf", "text/plain",
}  # fmt: skip


def graph_error(
    code: int, message: str, *, details: str | None = None, subcode: int | None = None, kind: str = "OAuthException"
) -> dict[str, Any]:
    """Meta's error envelope."""
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def invalid(details: str) -> tuple[int, dict[str, Any]]:
    return 400, graph_error(131009, "(#131009) Parameter value is not valid", details=details, subcode=2494010)


THROTTLED = (
    429,
    graph_error(130429, "(#130429) Rate limit hit", details="Cloud API message throughput has been reached."),
)
PAIR_LIMIT = (
    400,
    graph_error(
        131056,
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        details="Too many messages sent from the sender phone number to the same recipient phone number in a short "
        "period of time.",
        subcode=2494055,
    ),
)
RE_ENGAGEMENT_DETAILS = "More than 24 hours have passed since the recipient last replied to the sender number."
RE_ENGAGEMENT: dict[str, Any] = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {"details": "More than 24 hours have passed since the recipient last replied to the sender number."},
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}


@dataclass
class Number:
    phone_number_id: str
    display_phone_number: str
    access_token: str
    app_secret: str
    verify_token: str
    waba_id: str
    callback_url: str | None = None
    token_expired: bool = False
    # "off": free-form messages to anyone; "sync": refused at once with 131047 outside the window; "async":
    # accepted, then a `failed` status with 131047 (what Meta usually does).
    window: str = "off"
    window_open_for: set[str] = field(default_factory=set)
    forced: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    throughput: float | None = None
    statuses_after_send: list[str] = field(default_factory=list)
    _bucket: list[float] = field(default_factory=lambda: [0.0, 0.0])


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, the form fields of an upload, or None


@dataclass
class StoredMedia:
    content: bytes
    mime_type: str
    phone_number_id: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class FakeGraph:
    def __init__(self) -> None:
        self.url = ""
        self.numbers: dict[str, Number] = {}
        self.requests: list[Recorded] = []
        self.media: dict[str, StoredMedia] = {}
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._webhooks = httpx.Client(timeout=10, headers={"User-Agent": "facebookexternalua"})
        self._background: list[threading.Thread] = []
        self.record_requests = True

    # -- setup -----------------------------------------------------------------------------------------

    def add_number(self, display_phone_number: str = "15550783881", **knobs: Any) -> Number:
        with self.lock:
            pnid = str(106540352240000 + next(self._ids))
            number = Number(
                phone_number_id=pnid,
                display_phone_number=display_phone_number,
                access_token="EAAG" + secrets.token_urlsafe(24),
                app_secret=secrets.token_hex(16),
                verify_token=secrets.token_urlsafe(12),
                waba_id=str(102290129340000 + next(self._ids)),
                **knobs,
            )
            self.numbers[pnid] = number
            return number

    def config_of(self, number: Number) -> dict[str, str]:
        """The `config` a gateway instance needs for this number."""
        return {
            "phone_number_id": number.phone_number_id,
            "access_token": number.access_token,
            "app_secret": number.app_secret,
            "verify_token": number.verify_token,
            "waba_id": number.waba_id,
        }

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def sent(self, number: Number) -> list[dict[str, Any]]:
        """The message bodies this number's `/messages` received (sends, reads and typing alike)."""
        return [r.body for r in self.calls("POST", rf"/{number.phone_number_id}/messages$")]

    def wait_background(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._background):
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- Meta's webhook side ------------------------------------------------------------------------------

    def envelope(self, number: Number, **value: Any) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": number.waba_id,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": number.display_phone_number,
                                    "phone_number_id": number.phone_number_id,
                                },
                                **value,
                            },
                        }
                    ],
                }
            ],
        }

    def inbound(
        self, number: Number, sender: str, kind: str, content: Any, *, name: str = "Test Name", **extra: Any
    ) -> dict[str, Any]:
        """A user's message as Meta reports it; it opens the 24-hour window for that user."""
        with self.lock:
            number.window_open_for.add(sender)
        message = {
            "from": sender,
            "id": "wamid." + base64.b64encode(secrets.token_bytes(24)).decode(),
            "timestamp": str(int(time.time())),
            "type": kind,
            kind: content,
            **extra,
        }
        # Since 2026 Meta also names people by a business-scoped user id (BSUID) beside the phone number.
        contacts = [{"profile": {"name": name}, "wa_id": sender, "user_id": bsuid_of(sender)}]
        return self.envelope(number, contacts=contacts, messages=[message])

    def inbound_media(
        self, number: Number, sender: str, kind: str, content: bytes, mime_type: str, **fields: Any
    ) -> dict[str, Any]:
        media_id = self._store_media(content, mime_type, number.phone_number_id)
        body = {"mime_type": mime_type, "sha256": hashlib.sha256(content).hexdigest(), "id": media_id, **fields}
        return self.inbound(number, sender, kind, body)

    def status(
        self, number: Number, wamid: str, status: str, recipient: str, *, errors: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": recipient,
        }
        if status in ("sent", "delivered", "read"):
            item["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
        if errors:
            item["errors"] = errors
        # Status webhooks name the recipient in `contacts` too (with the BSUID), as pywa 4.5 expects them to.
        contacts = [{"wa_id": recipient, "user_id": bsuid_of(recipient)}]
        return self.envelope(number, contacts=contacts, statuses=[item])

    def signed(
        self, number: Number, payload: dict[str, Any], *, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        key = (secret if secret is not None else number.app_secret).encode()
        signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}

    def post_webhook(self, number: Number, payload: dict[str, Any], *, secret: str | None = None) -> httpx.Response:
        assert number.callback_url, "set number.callback_url to the gateway's /hooks/waba/{instance_id}"
        body, headers = self.signed(number, payload, secret=secret)
        return self._webhooks.post(number.callback_url, content=body, headers=headers)

    def handshake(self, number: Number, *, verify_token: str | None = None, mode: str = "subscribe") -> httpx.Response:
        assert number.callback_url
        params = {
            "hub.mode": mode,
            "hub.challenge": str(secrets.randbelow(10**10)),
            "hub.verify_token": verify_token if verify_token is not None else number.verify_token,
        }
        return self._webhooks.get(number.callback_url, params=params)

    # -- the API ---------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        body: Any = None
        if method == "POST" and UPLOAD.match(path):
            body = _form_fields(headers.get("content-type", ""), raw)
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if self.record_requests:
            with self.lock:
                self.requests.append(Recorded(method, path, headers, body))
        if match := DOWNLOAD.match(path):
            return self._download(match.group(1), headers)
        status, answer = self._route(method, path, query, headers, body)
        return status, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any]]:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if (match := SEND.match(path)) and method == "POST":
            number, refusal = self._number(match.group(1), token)
            return refusal or self._send(number, body)  # type: ignore[arg-type]
        if (match := UPLOAD.match(path)) and method == "POST":
            number, refusal = self._number(match.group(1), token)
            return refusal or self._upload(number, body)  # type: ignore[arg-type]
        if match := OBJECT.match(path):
            if not self._token_known(token):
                return _auth_error(expired=False)
            media = self.media.get(match.group(1))
            if media is None or method not in ("GET", "DELETE"):
                return _unknown_object(match.group(1))
            if method == "DELETE":
                with self.lock:
                    self.media.pop(match.group(1), None)
                return 200, {"success": True}
            return 200, {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/download/{match.group(1)}?ext=1&hash={media.sha256[:16]}",
                "mime_type": media.mime_type,
                "sha256": media.sha256,
                "file_size": len(media.content),
                "id": match.group(1),
            }
        return 400, graph_error(100, f"Unknown path components: {path}", kind="OAuthException")

    def _token_known(self, token: str) -> bool:
        return any(n.access_token == token and not n.token_expired for n in self.numbers.values())

    def _number(self, pnid: str, token: str) -> tuple[Number | None, tuple[int, dict[str, Any]] | None]:
        with self.lock:
            number = self.numbers.get(pnid)
        if number is None:
            return None, _unknown_object(pnid)
        if token != number.access_token:
            return None, _auth_error(expired=False)
        if number.token_expired:
            return None, _auth_error(expired=True)
        return number, None

    def _send(self, number: Number, body: Any) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if number.forced:
                return number.forced.pop(0)
            if number.throughput is not None and not _take(number, number.throughput):
                return THROTTLED
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return invalid('messaging_product must be "whatsapp"')
        if body.get("status") == "read":
            if not str(body.get("message_id", "")).startswith("wamid."):
                return invalid("message_id is not a valid message id")
            typing = body.get("typing_indicator")
            if typing is not None and typing != {"type": "text"}:
                return invalid("typing_indicator.type must be text")
            return 200, {"success": True}
        problem = _check_message(body, self.media)
        if problem is not None:
            return invalid(problem)
        to = str(body["to"])
        free_form = body["type"] not in ("template", "reaction")
        outside = number.window != "off" and free_form and to not in number.window_open_for
        if outside and number.window == "sync":
            error = graph_error(131047, "(#131047) Re-engagement message", details=RE_ENGAGEMENT_DETAILS)
            return 400, error
        wamid = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
        answer: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }
        if body["type"] == "template":
            answer["messages"][0]["message_status"] = "accepted"
        if outside:
            self._later(number, [self.status(number, wamid, "failed", to, errors=[RE_ENGAGEMENT])])
        elif number.statuses_after_send and number.callback_url:
            self._later(number, [self.status(number, wamid, s, to) for s in number.statuses_after_send])
        return 200, answer

    def _later(self, number: Number, payloads: list[dict[str, Any]]) -> None:
        if not number.callback_url:
            return

        def post() -> None:
            time.sleep(0.05)  # after the send's answer, as Meta does
            for payload in payloads:
                with suppress(httpx.HTTPError):
                    self.post_webhook(number, payload)

        thread = threading.Thread(target=post, daemon=True)
        self._background.append(thread)
        thread.start()

    def _upload(self, number: Number, fields: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(fields, dict) or fields.get("messaging_product") != "whatsapp":
            return invalid('messaging_product must be "whatsapp"')
        file = fields.get("file")
        if not isinstance(file, tuple):
            return invalid("file is required")
        mime_type = str(fields.get("type") or file[1])
        if mime_type not in UPLOAD_TYPES:
            return 400, graph_error(131053, "(#131053) Media upload error", details=f"Unsupported type {mime_type}")
        return 200, {"id": self._store_media(file[2], mime_type, number.phone_number_id)}

    def _store_media(self, content: bytes, mime_type: str, pnid: str) -> str:
        with self.lock:
            media_id = str(1375245879350000 + next(self._ids))
            self.media[media_id] = StoredMedia(content, mime_type, pnid)
            return media_id

    def _download(self, media_id: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        media = self.media.get(media_id)
        if not self._token_known(token):
            return 401, {"Content-Type": "application/json"}, json.dumps(_auth_error(expired=False)[1]).encode()
        if media is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        return 200, {"Content-Type": media.mime_type}, media.content


def bsuid_of(phone: str) -> str:
    return "US." + str(int(hashlib.sha256(phone.encode()).hexdigest()[:15], 16))


def _take(number: Number, rate: float) -> bool:
    tokens, updated = number._bucket
    now = time.monotonic()
    tokens = min(rate, tokens + (now - updated) * rate) if updated else rate
    if tokens < 1:
        number._bucket[:] = [tokens, now]
        return False
    number._bucket[:] = [tokens - 1, now]
    return True


def _auth_error(*, expired: bool) -> tuple[int, dict[str, Any]]:
    if expired:
        message = "Error validating access token: Session has expired on Thursday, 26-Nov-26 05:00:00 PST."
        return 401, graph_error(190, message, subcode=463)
    return 401, graph_error(190, "Invalid OAuth access token - Cannot parse access token")


def _unknown_object(object_id: str) -> tuple[int, dict[str, Any]]:
    message = (
        f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation."
    )
    return 400, graph_error(100, message, subcode=33, kind="GraphMethodException")


def _check_message(body: dict[str, Any], media: dict[str, StoredMedia]) -> str | None:
    """What Meta would refuse in a message body (error 131009 with these details), or None."""
    kind = body.get("type")
    if kind not in MESSAGE_TYPES:
        return f"type must be one of {sorted(MESSAGE_TYPES)}"
    if not re.fullmatch(r"[0-9]{5,20}", str(body.get("to", ""))):
        return "to must be a phone number"
    if body.get("recipient_type", "individual") != "individual":
        return "recipient_type must be individual"
    content = body.get(kind)
    if kind == "contacts":
        if not isinstance(content, list) or not content:
            return "contacts must be a non-empty array"
        for contact in content:
            name = contact.get("name", {})
            if not name.get("formatted_name") or len(name) < 2:
                return "contacts[].name needs formatted_name and one more name field"
        return None
    if not isinstance(content, dict):
        return f"{kind} is required"
    if "context" in body and not str(body["context"].get("message_id", "")).startswith("wamid."):
        return "context.message_id is not a message id"
    if kind == "text":
        text = content.get("body")
        if not isinstance(text, str) or not text or len(text) > 4096:
            return "text.body is required, at most 4096 characters"
    elif kind in MEDIA_KINDS:
        if ("id" in content) == ("link" in content):
            return f"{kind} needs exactly one of id and link"
        if "id" in content and content["id"] not in media:
            return f"{kind}.id is not an uploaded media id"
        if "caption" in content and kind in ("audio", "sticker"):
            return f"{kind} takes no caption"
        if len(content.get("caption", "")) > 1024:
            return "caption is at most 1024 characters"
    elif kind == "location":
        if not all(isinstance(content.get(k), int | float) for k in ("latitude", "longitude")):
            return "location needs latitude and longitude"
    elif kind == "reaction":
        if not str(content.get("message_id", "")).startswith("wamid.") or "emoji" not in content:
            return "reaction needs message_id and emoji"
    elif kind == "template":
        if not content.get("name") or not content.get("language", {}).get("code"):
            return "template needs name and language.code"
    elif kind == "interactive":
        return _check_interactive(content)
    return None


def _check_interactive(content: dict[str, Any]) -> str | None:
    if not content.get("body", {}).get("text"):
        return "interactive.body.text is required"
    if len(content["body"]["text"]) > 1024:
        return "interactive.body.text is at most 1024 characters"
    action = content.get("action", {})
    if content.get("type") == "button":
        buttons = action.get("buttons", [])
        if not 1 <= len(buttons) <= 3:
            return "action.buttons must have 1 to 3 buttons"
        ids = [b.get("reply", {}).get("id") for b in buttons]
        if len(set(ids)) != len(ids) or any(len(b.get("reply", {}).get("title", "")) > 20 for b in buttons):
            return "button ids must be unique and titles at most 20 characters"
        return None
    if content.get("type") == "list":
        sections = action.get("sections", [])
        rows = [row for section in sections for row in section.get("rows", [])]
        if not action.get("button") or len(action["button"]) > 20:
            return "action.button is required, at most 20 characters"
        if not 1 <= len(sections) <= 10 or not 1 <= len(rows) <= 10:
            return "at most 10 sections and 10 rows in all"
        if any(len(r.get("title", "")) > 24 or len(r.get("description", "")) > 72 for r in rows):
            return "row titles are at most 24 characters, descriptions 72"
        return None
    return "interactive.type must be button, list or cta_url"


def _form_fields(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body: plain fields as strings, files as (filename, content type, bytes)."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            fields[str(name)] = (filename, part.get_content_type(), payload)
        else:
            fields[str(name)] = payload.decode()
    return fields


@contextmanager
def running_fake_graph(port: int = 0) -> Iterator[FakeGraph]:
    fake = FakeGraph()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, body = fake.handle(self.command, parts.path, parse_qs(parts.query), headers, raw)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    server = Server(("127.0.0.1", port), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-graph", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        fake._webhooks.close()
