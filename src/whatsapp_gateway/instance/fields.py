"""Parsing and normalising the values an instance is described with: phone numbers, CPU and memory limits."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

PHONE_MIN_DIGITS = 7
PHONE_MAX_DIGITS = 15  # E.164
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")

CPU_MAX = Decimal(64)
CPU_MIN = Decimal("0.01")

MEMORY_MIN_BYTES = 16 * 1024**2
MEMORY_MAX_BYTES = 256 * 1024**3
_MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)([kmg]?)(?:i?b)?$")
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def normalize_phone(value: str) -> str:
    """Digits of an international number: `+1 (415) 555-0100` → `14155550100`."""
    compact = _PHONE_SEPARATORS.sub("", value)
    if compact.startswith("+"):
        compact = compact[1:]
    if not compact.isascii() or not compact.isdigit():
        raise ValueError("must be an international phone number: digits, an optional leading +")
    if not PHONE_MIN_DIGITS <= len(compact) <= PHONE_MAX_DIGITS:
        raise ValueError(f"must have {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits, country code first")
    if compact.startswith("0"):
        raise ValueError("must start with the country code (no leading 0 or 00)")
    return compact


def normalize_cpu(value: str | int | float) -> str:
    """CPU cores as Docker takes them: `"0.5"`, `"2"`."""
    try:
        cores = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError('must be a number of CPU cores, like "0.5" or "2"') from exc
    if not cores.is_finite() or not CPU_MIN <= cores <= CPU_MAX:
        raise ValueError(f"must be between {CPU_MIN} and {CPU_MAX} cores")
    if cores.as_tuple().exponent < -2:  # type: ignore[operator]  # finite, so the exponent is an int
        raise ValueError("must have at most two decimals")
    return format(cores.normalize(), "f")


def memory_bytes(value: str) -> int:
    match = _MEMORY_RE.match(value.strip().lower())
    if not match:
        raise ValueError('must be a size like "512m" or "1g" (units k, m, g)')
    number, unit = match.groups()
    return int(Decimal(number) * _MEMORY_UNITS[unit])


def normalize_memory(value: str) -> str:
    """A memory limit as Docker takes it: `"512m"`, `"1g"`, `"1.5g"`."""
    size = memory_bytes(value)
    if not MEMORY_MIN_BYTES <= size <= MEMORY_MAX_BYTES:
        raise ValueError("must be between 16m and 256g")
    match = _MEMORY_RE.match(value.strip().lower())
    assert match is not None
    number, unit = match.groups()
    return f"{Decimal(number).normalize():f}{unit}" if unit else str(size)
