"""Secrets at rest: webhook signing secrets, custom webhook headers and, later, provider credentials.

AES-256-GCM with a key derived from SECRET_KEY (HKDF-SHA256), so one operator secret protects everything and a copy of
the database alone reveals nothing. Each value is sealed with the row it belongs to as associated data: a ciphertext
copied to another row does not open there.

Changing SECRET_KEY makes stored secrets unreadable (and invalidates worker tokens); docs/operations.md says so.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A stored secret does not open: the SECRET_KEY changed, or the value was tampered with."""


class SecretBox:
    def __init__(self, secret_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"whatsapp-gateway secrets at rest v1").derive(
            secret_key
        )
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, stored: str, *, context: str) -> str:
        version, _, payload = stored.partition(":")
        if version != VERSION:
            raise SecretUnreadable(f"unknown format {version!r}")
        try:
            raw = base64.b64decode(payload, validate=True)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable("the value does not open with this SECRET_KEY") from exc
