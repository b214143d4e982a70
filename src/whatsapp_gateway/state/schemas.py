from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_VALUE_CHARS = 1024 * 1024
MAX_BATCH_CHARS = 8 * 1024 * 1024
MAX_KEYS_PER_BATCH = 1000


def _printable(key: str) -> str:
    if not key.isprintable():
        raise ValueError("keys are printable characters only")
    return key


StateKey = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable)]


class StateBatch(BaseModel):
    """One atomic batch against an instance's key-value store: clear, then deletes, then puts, then gets."""

    model_config = ConfigDict(extra="forbid")

    get: list[StateKey] = Field(default_factory=list, max_length=MAX_KEYS_PER_BATCH)
    put: dict[StateKey, Annotated[str, Field(max_length=MAX_VALUE_CHARS)]] = Field(default_factory=dict)
    delete: list[StateKey] = Field(default_factory=list, max_length=MAX_KEYS_PER_BATCH)
    clear: bool = False


class StateBatchResult(BaseModel):
    values: dict[str, str | None]


class StateKeys(BaseModel):
    keys: list[str]


class SnapshotWritten(BaseModel):
    generation: int
    sha256: str
    size: int
