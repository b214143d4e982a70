"""Provider conformance, online part: a provider's workers under the real control plane, paired and messaging.

Runs `wagw run` (real database, real local runtime) with workers of the provider under test, and plays the phone:
for the sandbox, through the gateway's sandbox API. Providers that need WhatsApp's servers and a real phone skip
with that reason. Control-plane behaviour that does not depend on the provider is in tests/system/.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.providers.harness import ProviderSpec
from tests.support.gateway import TINY_PNG, Gateway, pid_alive, wait_for, worker_pids
from tests.support.live import data_dir, gateway_env, started_gateway

__all__ = ["data_dir", "gateway_env"]  # fixtures, used by name

pytestmark = [pytest.mark.online, pytest.mark.slow]


@pytest.fixture
def online_provider(provider: ProviderSpec) -> ProviderSpec:
    if provider.online_unavailable:
        pytest.skip(provider.online_unavailable)
    return provider


@pytest.fixture
def live(online_provider: ProviderSpec, data_dir: Path, gateway_env: dict[str, str]) -> Iterator[Gateway]:
    with started_gateway(data_dir, gateway_env) as gateway:
        yield gateway


def test_pair_by_qr_then_text_and_image_with_receipts(live: Gateway) -> None:
    tenant = live.new_tenant()
    a = live.new_instance(tenant, "+14155550101", name="A")
    b = live.new_instance(tenant, "+14155550102", name="B")

    png = live.http.get(f"/api/instances/{a['id']}/qr", headers=tenant.headers)
    png = wait_for(
        lambda: (r := live.http.get(f"/api/instances/{a['id']}/qr", headers=tenant.headers)).status_code == 200 and r,
        timeout=15,
        what="A's QR as PNG",
    )
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = live.http.get(f"/api/instances/{a['id']}/qr", params={"format": "svg"}, headers=tenant.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content

    connected_a = live.pair(tenant, a["id"])
    connected_b = live.pair(tenant, b["id"])
    assert connected_a["status"] == "running"
    assert connected_a["account"]["phone"] == "14155550101"
    assert connected_a["account"]["lid"].endswith("@lid")
    assert connected_b["account"]["jid"] == "14155550102@s.whatsapp.net"
    assert live.http.get(f"/api/instances/{a['id']}/qr", headers=tenant.headers).json()["code"] == ("already_connected")

    text = live.send(tenant, a["id"], {"to": "+1 415 555 0102", "type": "text", "text": "hello B"})
    assert text.status_code == 202, text.text
    assert text.json()["status"] == "sent"
    image = live.send(
        tenant,
        a["id"],
        {
            "to": "14155550102",
            "type": "image",
            "media": {"base64": base64.b64encode(TINY_PNG).decode(), "mimetype": "image/png", "caption": "a dot"},
        },
    )
    assert image.status_code == 202, image.text

    received = wait_for(
        lambda: len(r := live.events(tenant, b["id"], "message.received")) >= 2 and r,
        timeout=15,
        what="B to receive both messages",
    )
    by_type = {event["data"]["type"]: event["data"] for event in received}
    assert by_type["text"]["text"] == "hello B"
    assert by_type["text"]["from"]["phone"] == "14155550101"
    assert by_type["text"]["from"]["lid"] == connected_a["account"]["lid"]
    media = by_type["image"]["media"]
    assert media["sha256"] == hashlib.sha256(TINY_PNG).hexdigest()
    assert media["caption"] == "a dot"
    downloaded = live.http.get(media["download"], headers=tenant.headers)
    assert downloaded.status_code == 200
    assert downloaded.content == TINY_PNG
    assert downloaded.headers["content-type"] == "image/png"

    message_id = text.json()["id"]
    wait_for(
        lambda: live.message(tenant, a["id"], message_id)["status"] == "delivered",
        timeout=15,
        what="A's text to be delivered",
    )
    read = live.http.post(
        f"/api/instances/{b['id']}/read",
        json={"chat": "14155550101", "message_ids": [by_type["text"]["id"]]},
        headers=tenant.headers,
    )
    assert read.status_code == 204, read.text
    final = wait_for(
        lambda: (m := live.message(tenant, a["id"], message_id))["status"] == "read" and m,
        timeout=15,
        what="A's text to be read",
    )
    assert final["sent_at"] <= final["delivered_at"] <= final["read_at"]
    statuses = [
        e["data"]["status"] for e in live.events(tenant, a["id"], "message.status") if e["data"]["id"] == message_id
    ]
    assert statuses == ["delivered", "read"]
    # The image was delivered too, and never read.
    assert live.message(tenant, a["id"], image.json()["id"])["status"] == "delivered"


def test_pair_code_inbound_contacts_and_presence(live: Gateway) -> None:
    tenant = live.new_tenant()
    a = live.new_instance(tenant, "+14155550111")
    b = live.new_instance(tenant, "+14155550112")
    live.wait_state(tenant, a["id"], "qr")
    code = live.http.post(f"/api/instances/{a['id']}/pair-code", json={}, headers=tenant.headers)
    assert code.status_code == 200, code.text
    assert len(code.json()["code"]) == 9
    assert code.json()["code"][4] == "-"
    live.wait_state(tenant, a["id"], "pairing")
    wrong = live.http.post("/api/sandbox/enter-code", json={"code": "AAAA-AAAA"}, headers=tenant.headers)
    assert wrong.status_code == 404
    assert wrong.json()["code"] == "link_not_found"
    entered = live.http.post("/api/sandbox/enter-code", json={"code": code.json()["code"]}, headers=tenant.headers)
    assert entered.status_code == 200, entered.text
    live.wait_state(tenant, a["id"], "connected")
    live.pair(tenant, b["id"])

    inbound = live.http.post(
        "/api/sandbox/inbound",
        json={"instance": a["id"], "from": "+4915112345678", "push_name": "Kim", "type": "text", "text": "hi!"},
        headers=tenant.headers,
    )
    assert inbound.status_code == 202, inbound.text
    event = wait_for(lambda: live.events(tenant, a["id"], "message.received"), timeout=15, what="the inbound message")[
        0
    ]
    assert event["data"]["from"]["phone"] == "4915112345678"
    assert event["data"]["from"]["push_name"] == "Kim"
    assert event["data"]["id"] == inbound.json()["provider_message_id"]

    checked = live.http.post(
        f"/api/instances/{a['id']}/contacts/check", json={"phones": ["+14155550112", "12"]}, headers=tenant.headers
    )
    assert checked.status_code == 200, checked.text
    results = checked.json()["results"]
    assert results[0]["on_whatsapp"] is True
    assert results[0]["jid"] == "14155550112@s.whatsapp.net"
    assert results[1]["on_whatsapp"] is False

    typing = live.http.post(
        f"/api/instances/{a['id']}/presence", json={"chat": "14155550112", "state": "composing"}, headers=tenant.headers
    )
    assert typing.status_code == 204, typing.text
    presence = wait_for(lambda: live.events(tenant, b["id"], "presence.update"), timeout=15, what="B to see A typing")[
        0
    ]
    assert presence["data"]["state"] == "composing"
    assert presence["data"]["from"]["phone"] == "14155550111"


def test_a_killed_worker_is_restarted_connected_and_loses_nothing(live: Gateway) -> None:
    tenant = live.new_tenant()
    instance = live.new_instance(tenant, "+14155550201")
    paired = live.pair(tenant, instance["id"])
    first = live.worker_record(instance["id"])
    live.inbound(tenant, instance["id"], "before")
    wait_for(lambda: live.received_texts(tenant, instance["id"]), timeout=15, what="the first message")

    os.kill(first["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    # Messages that arrive while the worker is dead wait in the network, as on WhatsApp.
    for n in range(5):
        live.inbound(tenant, instance["id"], f"during-{n}")

    restarted = wait_for(
        lambda: (r := live.worker_record(instance["id"]))["epoch"] > first["epoch"] and pid_alive(r["pid"]) and r,
        timeout=10,
        what="a new worker",
    )
    restart_seconds = time.monotonic() - killed_at
    assert restart_seconds < 5, f"the worker came back after {restart_seconds:.1f}s"
    after = live.wait_state(tenant, instance["id"], "connected")
    # No new scan: the same account, and no QR was ever shown by the new worker.
    assert after["account"] == paired["account"]
    assert after["epoch"] == restarted["epoch"]
    qr_events = live.events(tenant, instance["id"], "session.qr")
    assert len(qr_events) == 1, "the restarted worker asked for a new login"

    live.inbound(tenant, instance["id"], "after")
    expected = ["before", *(f"during-{n}" for n in range(5)), "after"]
    texts = wait_for(
        lambda: len(t := live.received_texts(tenant, instance["id"])) >= len(expected) and t,
        timeout=15,
        what="every message",
    )
    assert sorted(texts) == sorted(expected), "a message was lost or doubled"
    assert worker_pids(instance["id"]) == [restarted["pid"]]


def test_qr_codes_rotate_and_old_ones_expire(
    online_provider: ProviderSpec, data_dir: Path, gateway_env: dict[str, str]
) -> None:
    with started_gateway(data_dir, {**gateway_env, "SANDBOX_QR_INTERVAL_SECONDS": "1"}) as live:
        tenant = live.new_tenant()
        instance = live.new_instance(tenant, "+14155550231")
        first = live.qr(tenant, instance["id"])
        second = wait_for(
            lambda: (q := live.qr(tenant, instance["id"])) != first and q, timeout=10, what="the QR to rotate"
        )
        stale = live.http.post("/api/sandbox/scan", json={"qr": first}, headers=tenant.headers)
        assert (stale.status_code, stale.json()["code"]) == (410, "link_expired")
        rotations = len(live.events(tenant, instance["id"], "session.qr"))
        assert rotations >= 2
        current = live.qr(tenant, instance["id"])
        assert live.http.post("/api/sandbox/scan", json={"qr": current}, headers=tenant.headers).status_code == 200
        live.wait_state(tenant, instance["id"], "connected")
        again = live.http.post("/api/sandbox/scan", json={"qr": second}, headers=tenant.headers)
        assert again.status_code == 410


def test_media_by_url_is_fetched_by_the_worker(live: Gateway, tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "dot.png").write_bytes(TINY_PNG)
    (tmp_path / "www" / "big.bin").write_bytes(b"\0" * (16 * 1024 * 1024 + 1))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        tenant = live.new_tenant()
        a = live.new_instance(tenant, "+14155550241")
        b = live.new_instance(tenant, "+14155550242")
        live.pair(tenant, a["id"])
        live.pair(tenant, b["id"])
        sent = live.send(
            tenant,
            a["id"],
            {"to": "14155550242", "type": "document", "media": {"url": f"{base}/dot.png", "filename": "dot.png"}},
        )
        assert sent.status_code == 202, sent.text
        received = wait_for(lambda: live.events(tenant, b["id"], "message.received"), timeout=15, what="the document")[
            0
        ]
        assert received["data"]["media"]["sha256"] == hashlib.sha256(TINY_PNG).hexdigest()
        assert received["data"]["media"]["filename"] == "dot.png"
        too_big = live.send(
            tenant, a["id"], {"to": "14155550242", "type": "image", "media": {"url": f"{base}/big.bin"}}
        )
        assert (too_big.status_code, too_big.json()["code"]) == (413, "media_too_large")
        missing = live.send(tenant, a["id"], {"to": "14155550242", "type": "image", "media": {"url": f"{base}/nope"}})
        assert missing.status_code in (422, 502), missing.text
    finally:
        server.shutdown()
        server.server_close()
