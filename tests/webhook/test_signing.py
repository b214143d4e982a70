"""Signatures as a receiver checks them, with an independent Standard Webhooks implementation (`standardwebhooks`)."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from whatsapp_gateway.webhook.signing import new_secret, signature_header

BODY = b'{"id":"evt_1","type":"message.received","instance":"ins_1","timestamp":"2026-11-26T10:00:00Z","data":{}}'


def headers(message_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_a_new_secret_is_whsec_and_24_random_bytes() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24


def test_a_signature_verifies_with_the_reference_implementation() -> None:
    secret = new_secret()
    now = int(time.time())
    signature = signature_header([secret], "evt_1", now, BODY)
    assert signature.startswith("v1,")
    assert " " not in signature
    assert Webhook(secret).verify(BODY, headers("evt_1", now, signature))["id"] == "evt_1"


def test_during_a_rotation_both_secrets_verify_and_no_other_does() -> None:
    new, old = new_secret(), new_secret()
    now = int(time.time())
    signature = signature_header([new, old], "evt_1", now, BODY)
    entries = signature.split(" ")
    assert len(entries) == 2
    assert all(entry.startswith("v1,") for entry in entries)
    for secret in (new, old):
        Webhook(secret).verify(BODY, headers("evt_1", now, signature))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers("evt_1", now, signature))


@pytest.mark.parametrize(
    ("message_id", "timestamp_shift", "body"),
    [
        pytest.param("evt_1", 0, BODY.replace(b"evt_1", b"evt_2"), id="changed body"),
        pytest.param("evt_1", 0, BODY + b" ", id="body with a trailing byte"),
        pytest.param("evt_1", 1, BODY, id="changed timestamp"),
        pytest.param("evt_2", 0, BODY, id="changed webhook-id"),
    ],
)
def test_anything_changed_after_signing_fails_verification(message_id: str, timestamp_shift: int, body: bytes) -> None:
    secret = new_secret()
    now = int(time.time())
    signature = signature_header([secret], "evt_1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers(message_id, now + timestamp_shift, signature))
