"""Cursor pagination shared by every list endpoint.

Lists are ordered by id, and ids sort by creation time, so the cursor is simply the last id of the page, wrapped so
that clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, Self, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from whatsapp_gateway.errors import UnprocessableInput

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class InvalidCursor(UnprocessableInput):
    code, title = "invalid_cursor", "The pagination cursor is not valid"


class PageParams(BaseModel):
    limit: int
    after_id: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("Use the `next_cursor` of a previous page, unchanged.") from exc
    if not raw or not raw.isprintable() or len(raw) > 64:
        raise InvalidCursor("Use the `next_cursor` of a previous page, unchanged.")
    return raw


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(max_length=128, description="`next_cursor` from the previous page; omit for the first."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")

    @classmethod
    def build(cls, items: Sequence[T], limit: int, *, id_of: Callable[[T], str]) -> Self:
        """A page from `limit + 1` fetched items: the extra one only tells that another page exists."""
        has_more = len(items) > limit
        shown = list(items[:limit])
        return cls(data=shown, next_cursor=encode_cursor(id_of(shown[-1])) if has_more and shown else None)
