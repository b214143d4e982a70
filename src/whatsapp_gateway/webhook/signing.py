"""Standard Webhooks signatures (https://www.standardwebhooks.com).

A secret is `whsec_` + base64 of 24 random bytes. The signed content is `<webhook-id>.<webhook-timestamp>.<body>`; the
`webhook-signature` header lists `v1,<base64 HMAC-SHA256>` once per secret in force, separated by spaces, so that
during a rotation receivers holding either the old or the new secret accept the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_header(secrets_in_force: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in secrets_in_force:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode())
    return " ".join(signatures)
