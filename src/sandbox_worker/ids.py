"""Event ids and timestamps."""

from __future__ import annotations

import datetime as dt
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid() -> str:
    # 48 bits of milliseconds then 80 random bits, like the control plane's ids: they sort by creation.
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_event_id() -> str:
    return f"evt_{new_ulid()}"


def hub_event_id(instance_id: str, seq: int, suffix: str = "") -> str:
    # Derived from the hub item, so an item the hub delivers twice becomes the same event and the control plane
    # de-duplicates it.
    return f"evt_sbx_{instance_id}_{seq}{suffix}"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: object) -> float | None:
    """Seconds since the epoch for an RFC 3339 string, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
