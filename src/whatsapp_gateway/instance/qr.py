"""Rendering login QR strings; workers hand over the raw string, the control plane draws it."""

from __future__ import annotations

import io

import segno
from fastapi import Response

_MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def render_qr(data: str, *, kind: str) -> Response:
    buffer = io.BytesIO()
    # Medium error correction and a 4-module quiet zone: what phone cameras read best off a screen.
    segno.make(data, error="m").save(buffer, kind=kind, scale=8, border=4)
    # A QR expires within seconds: a cached one would be scanned in vain.
    return Response(buffer.getvalue(), media_type=_MEDIA_TYPES[kind], headers={"Cache-Control": "no-store"})
