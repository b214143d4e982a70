"""The floor the gateway is measured against: a raw ASGI app that answers every request with a small JSON body.

It reads the request body like the gateway does (so a POST costs the same bytes on the wire) and answers POST with
201, anything else with 200. No routing, no validation, no database: what is left is uvicorn and the HTTP parser.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]

_BODY = b'{"id":"ins_baseline","status":"ok"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more_body = True
    while more_body:
        message = await receive()
        more_body = message.get("more_body", False)
    status = 201 if scope["method"] == "POST" else 200
    await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})
