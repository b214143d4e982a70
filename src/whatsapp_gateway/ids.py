"""Public identifiers: a type prefix and a time-ordered random part (`ins_01JD…`).

The prefix tells an instance id from a phone number in `/api/instances/{id}` (both are accepted there) and tells
kinds apart in logs. The time-ordered part (a ULID: 48 bits of milliseconds, 80 random bits, Crockford base32)
makes ids sort by creation, which is what cursor pagination walks.
"""

from __future__ import annotations

import re
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_LENGTH = 26
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def new_ulid() -> str:
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(ULID_LENGTH):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    return f"{prefix}_{new_ulid()}"


def is_id(value: str, prefix: str) -> bool:
    head, sep, tail = value.partition("_")
    return sep == "_" and head == prefix and bool(_ULID_RE.match(tail))
