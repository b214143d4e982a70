"""Bad sends each get their own status and code and store nothing; stop, start, logout and delete do what they say."""

from __future__ import annotations

import base64

from tests.support.gateway import Gateway, pid_alive, wait_for, worker_pids


def test_bad_sends_answer_with_their_own_code_and_store_nothing(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    other = gateway.new_tenant()
    a = gateway.new_instance(tenant, "+14155550301")
    b = gateway.new_instance(tenant, "+14155550302")
    gateway.wait_state(tenant, a["id"], "qr")

    def send(body: dict[str, object], instance_id: str = a["id"]) -> tuple[int, str]:
        response = gateway.send(tenant, instance_id, body)
        return response.status_code, response.json().get("code", "")

    text = {"to": "14155550302", "type": "text", "text": "hi"}
    assert send(text) == (409, "not_connected")
    gateway.pair(tenant, a["id"])
    gateway.pair(tenant, b["id"])

    assert gateway.http.get(f"/api/instances/{a['id']}/qr", headers=tenant.headers).json()["code"] == (
        "already_connected"
    )
    pair_code = gateway.http.post(f"/api/instances/{a['id']}/pair-code", json={}, headers=tenant.headers)
    assert (pair_code.status_code, pair_code.json()["code"]) == (409, "already_connected")

    assert send({**text, "to": "not a number"}) == (422, "invalid_recipient")
    assert send({**text, "to": "1234@broadcast"}) == (422, "invalid_recipient")
    assert send({"to": "14155550302", "type": "poll", "poll": {"name": "Lunch?", "options": ["yes", "no"]}}) == (
        422,
        "unsupported_message_type",
    )
    assert send({"to": "14155550302", "type": "telegram", "text": "hi"}) == (422, "validation_error")
    assert send({"to": "14155550302", "type": "text"}) == (422, "validation_error")
    assert send({"to": "14155550302", "type": "image", "text": "no media"}) == (422, "validation_error")
    too_big = base64.b64encode(b"\0" * (64 * 1024 + 1)).decode()
    assert send({"to": "14155550302", "type": "image", "media": {"base64": too_big}}) == (413, "media_too_large")
    assert send({"to": "14155550302", "type": "image", "media": {"base64": "%%%not-base64"}}) == (
        422,
        "invalid_media",
    )
    foreign = gateway.send(other, a["id"], text)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "instance_not_found")

    # Nothing was recorded for any refused send, and nothing reached B.
    listed = gateway.http.get(f"/api/instances/{a['id']}/messages", headers=tenant.headers)
    assert listed.json()["data"] == []
    assert gateway.events(tenant, b["id"], "message.received") == []
    ok = gateway.send(tenant, a["id"], text)
    assert ok.status_code == 202
    wait_for(lambda: gateway.events(tenant, b["id"], "message.received"), timeout=15, what="the good message")
    assert [
        m["id"] for m in gateway.http.get(f"/api/instances/{a['id']}/messages", headers=tenant.headers).json()["data"]
    ] == [ok.json()["id"]]


def test_stop_start_logout_and_delete(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    instance = gateway.new_instance(tenant, "+14155550311")
    paired = gateway.pair(tenant, instance["id"])
    first = gateway.worker_record(instance["id"])

    stopped = gateway.http.post(f"/api/instances/{instance['id']}/stop", headers=tenant.headers)
    assert stopped.status_code == 200
    assert stopped.json()["desired_state"] == "stopped"
    wait_for(lambda: gateway.instance(tenant, instance["id"])["status"] == "stopped", timeout=20, what="the stop")
    assert not pid_alive(first["pid"])
    assert worker_pids(instance["id"]) == []
    refused = gateway.send(tenant, instance["id"], {"to": "14155550312", "type": "text", "text": "x"})
    assert (refused.status_code, refused.json()["code"]) == (409, "not_connected")
    logs = gateway.http.get(f"/api/instances/{instance['id']}/logs", params={"tail": 50}, headers=tenant.headers)
    assert logs.status_code == 200
    assert "listening" in logs.text

    started = gateway.http.post(f"/api/instances/{instance['id']}/start", headers=tenant.headers)
    assert started.status_code == 200
    # The session was kept: connected again, same account, no new scan.
    again = gateway.wait_state(tenant, instance["id"], "connected", timeout=20)
    assert again["account"] == paired["account"]
    assert len(gateway.events(tenant, instance["id"], "session.qr")) == 1

    logged_out = gateway.http.post(f"/api/instances/{instance['id']}/logout", headers=tenant.headers)
    assert logged_out.status_code == 200, logged_out.text
    wait_for(
        lambda: gateway.events(tenant, instance["id"], "session.logged_out"), timeout=15, what="session.logged_out"
    )
    # A new login begins at once: a fresh worker shows a new QR.
    fresh = gateway.wait_state(tenant, instance["id"], "qr", timeout=20)
    assert fresh["account"] is None
    gateway.pair(tenant, instance["id"])

    unlinked = gateway.http.post("/api/sandbox/unlink", json={"instance": instance["id"]}, headers=tenant.headers)
    assert unlinked.status_code == 200
    gateway.wait_state(tenant, instance["id"], "logged_out", timeout=15)

    current = gateway.worker_record(instance["id"])
    deleted = gateway.http.delete(f"/api/instances/{instance['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    wait_for(lambda: not pid_alive(current["pid"]), timeout=20, what="the worker of a deleted instance to go")
    wait_for(
        lambda: not (gateway.data_dir / "instances" / instance["id"]).exists(),
        timeout=20,
        what="the deleted instance's files to go",
    )


def test_a_dropped_connection_reconnects_by_itself(gateway: Gateway) -> None:
    tenant = gateway.new_tenant()
    instance = gateway.new_instance(tenant, "+14155550321")
    gateway.pair(tenant, instance["id"])
    dropped = gateway.http.post("/api/sandbox/drop", json={"instance": instance["id"]}, headers=tenant.headers)
    assert dropped.status_code == 200
    wait_for(
        lambda: gateway.events(tenant, instance["id"], "session.disconnected"), timeout=15, what="the disconnection"
    )
    connected = wait_for(
        lambda: len(c := gateway.events(tenant, instance["id"], "session.connected")) >= 2 and c,
        timeout=15,
        what="the reconnection",
    )
    assert connected[-1]["data"]["me"]["phone"] == "14155550321"
    assert gateway.instance(tenant, instance["id"])["connection_state"] == "connected"
