"""Secrets at rest: sealed values open only with the same SECRET_KEY, for the same row, untouched."""

from __future__ import annotations

import base64

import pytest

from whatsapp_gateway.crypto import SecretBox, SecretUnreadable

KEY = b"test-secret-key-" + b"x" * 32
CONTEXT = "whe_01JDQ6W9Z8K3V7Q2X4N5M6P7R8:secret"


@pytest.mark.parametrize("plaintext", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "", '{"Authorization": "Bearer é✓"}'])
def test_a_sealed_value_opens_to_itself_and_does_not_show_it(plaintext: str) -> None:
    box = SecretBox(KEY)
    sealed = box.seal(plaintext, context=CONTEXT)
    if plaintext:
        assert plaintext not in sealed
    assert box.open(sealed, context=CONTEXT) == plaintext
    # Another box made from the same key (a restart, another replica) opens it too.
    assert SecretBox(KEY).open(sealed, context=CONTEXT) == plaintext


def test_two_seals_of_the_same_value_differ() -> None:
    box = SecretBox(KEY)
    assert box.seal("same", context=CONTEXT) != box.seal("same", context=CONTEXT)


def test_a_value_copied_to_another_row_does_not_open_there() -> None:
    box = SecretBox(KEY)
    sealed = box.seal("whsec_abc", context="whe_A:secret")
    with pytest.raises(SecretUnreadable):
        box.open(sealed, context="whe_B:secret")
    with pytest.raises(SecretUnreadable):
        box.open(sealed, context="whe_A:previous-secret")


def test_another_secret_key_cannot_open_it() -> None:
    sealed = SecretBox(KEY).seal("whsec_abc", context=CONTEXT)
    with pytest.raises(SecretUnreadable):
        SecretBox(KEY + b"!").open(sealed, context=CONTEXT)


def _flip_byte(sealed: str, index: int) -> str:
    version, _, payload = sealed.partition(":")
    raw = bytearray(base64.b64decode(payload))
    raw[index] ^= 0x01
    return f"{version}:{base64.b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize("index", [0, 12, -1], ids=["nonce", "ciphertext", "tag"])
def test_a_tampered_value_does_not_open(index: int) -> None:
    box = SecretBox(KEY)
    sealed = box.seal("whsec_abc", context=CONTEXT)
    with pytest.raises(SecretUnreadable):
        box.open(_flip_byte(sealed, index), context=CONTEXT)


@pytest.mark.parametrize("stored", ["", "v1:", "v1:AAAA", "v1:not base64!", "v2:" + "A" * 40, "whsec_plaintext"])
def test_garbage_is_unreadable_not_a_crash(stored: str) -> None:
    with pytest.raises(SecretUnreadable):
        SecretBox(KEY).open(stored, context=CONTEXT)
