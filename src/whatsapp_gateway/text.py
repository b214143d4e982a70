"""Constrained text types shared by the API schemas.

Control characters (NUL above all, which PostgreSQL refuses in text) are rejected at the edge, so a bad value is a
422 and never reaches the database.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_printable),
]
