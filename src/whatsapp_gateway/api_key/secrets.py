"""Making, recognising and hashing API keys.

A tenant key looks like `wagw_<prefix>_<secret>`: the prefix (8 characters) finds the row, the whole key is checked
against its sha256 in constant time. The key itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

KEY_SCHEME = "wagw"
PREFIX_LENGTH = 8
SECRET_BYTES = 32
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_PREFIX_CHARACTERS = frozenset(_PREFIX_ALPHABET)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def keys_match(presented_hash: str, stored_hash: str) -> bool:
    return hmac.compare_digest(presented_hash, stored_hash)


def new_tenant_key() -> tuple[str, str]:
    """A fresh key and its lookup prefix."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}", prefix


def prefix_of(key: str) -> str | None:
    scheme, _, rest = key.partition("_")
    prefix, sep, secret = rest.partition("_")
    if scheme != KEY_SCHEME or not sep or len(prefix) != PREFIX_LENGTH or not secret:
        return None
    if not set(prefix) <= _PREFIX_CHARACTERS:  # never send arbitrary header bytes (NUL…) to the database
        return None
    return prefix


def new_operator_key() -> str:
    return f"{KEY_SCHEME}_admin_{secrets.token_urlsafe(SECRET_BYTES)}"
