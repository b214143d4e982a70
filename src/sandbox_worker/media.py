"""Inbound media: the bytes live under `DATA_DIR/media/`, events carry only a reference (protocol §6)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

_MEDIA_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredMedia:
    path: Path
    mimetype: str


class MediaStore:
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)

    async def save(self, media: dict[str, object]) -> dict[str, object]:
        """Keep a hub item's inline media; returns the event's `media` object (with `download`)."""
        encoded = media.get("base64")
        if not isinstance(encoded, str):
            raise ValueError("media without base64 bytes")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("media with invalid base64") from None
        given = media.get("mimetype")
        mimetype = given if isinstance(given, str) else "application/octet-stream"
        # Named by content: the same item delivered twice (or the same file sent twice) is stored once.
        media_id = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, media_id, data, {"mimetype": mimetype})
        described: dict[str, object] = {"mimetype": mimetype, "size": len(data), "sha256": media_id}
        for key in ("filename", "caption"):
            if isinstance(media.get(key), str):
                described[key] = media[key]
        described["download"] = f"/v1/media/{media_id}"
        return described

    def find(self, media_id: str) -> StoredMedia | None:
        # The id comes from a URL: only our own hex names can reach the disk, never a path.
        if not _MEDIA_ID.match(media_id):
            return None
        path = self._dir / media_id
        if not path.is_file():
            return None
        mimetype = "application/octet-stream"
        try:
            meta = json.loads((self._dir / f"{media_id}.json").read_bytes())
            if isinstance(meta, dict) and isinstance(meta.get("mimetype"), str):
                mimetype = meta["mimetype"]
        except (OSError, ValueError):
            pass
        return StoredMedia(path, mimetype)

    def _write(self, media_id: str, data: bytes, meta: dict[str, str]) -> None:
        # Durable before the event that points at it is spooled.
        self._write_atomic(self._dir / f"{media_id}.json", json.dumps(meta).encode())
        self._write_atomic(self._dir / media_id, data)

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
