"""Provider conformance, offline part: a worker executable against docs/worker-protocol.md, with no network.

The control plane is a fake one on loopback (harness.FakeGateway) and WhatsApp, or the sandbox hub, is unreachable:
what is checked here is everything a worker must do on its own (start-up, auth, validation, fencing, the spool, the
state store, shutdown). Sending, receiving, QR and pairing against a real network are the online part's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import time
from typing import Any

import httpx
import pytest

from tests.providers.conftest import StartWorker
from tests.providers.harness import (
    CONNECTION_STATES,
    EXIT_EPOCH_SUPERSEDED,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    FakeGateway,
    ProviderSpec,
    WorkerProcess,
    eventually,
    free_port,
    new_id,
    parse_timestamp,
    sample_send,
)

pytestmark = [pytest.mark.offline, pytest.mark.slow]

SHUTDOWN_DEADLINE = 15  # §9: a worker must exit within 15 s of SIGTERM or POST /v1/shutdown
# How long a fenced worker may take to make its next call to the gateway on its own, plus the 409's effect.
FENCING_DEADLINE = 45


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is an RFC 9457 problem document (§8) with that status and, when given, that code."""
    assert response.status_code == status, (
        f"expected {status} {code or ''}, got {response.status_code}: {response.text}"
    )
    assert response.headers.get("content-type", "").startswith("application/problem+json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str), f"a problem document without a code: {body}"
    if code is not None:
        assert body["code"] == code, body
    if "status" in body:
        assert body["status"] == status, body
    return body


async def connection_state(worker: WorkerProcess) -> str:
    response = await worker.http.get("/v1/status")
    assert response.status_code == 200, response.text
    return str(response.json()["connection_state"])


# -- start-up and discovery (§1, §3)


async def test_worker_ready_announces_where_and_what_the_worker_is(
    provider: ProviderSpec, gateway: FakeGateway, worker: WorkerProcess
) -> None:
    data = worker.ready_data
    assert data is not None
    assert data["protocol"] == PROTOCOL_VERSION
    assert data["epoch"] == worker.epoch
    assert data["pid"] == worker.pid
    assert data["provider"] == provider.name
    assert isinstance(data.get("provider_version"), str)
    assert data["provider_version"]
    host, _, port = str(data["listen"]).rpartition(":")
    assert host == "127.0.0.1", data
    assert port.isdigit(), data
    assert int(port) != 0, "LISTEN=127.0.0.1:0 must be answered with the port actually bound"
    # The address it gave is where it serves.
    async with httpx.AsyncClient(base_url=f"http://{data['listen']}") as client:
        assert (await client.get("/v1/health")).status_code == 200
    # Delivered with this epoch's credentials (the fake gateway refuses anything else and records it).
    ready = gateway.events_of_type("worker.ready")[0]
    assert ready.epoch == "1"


async def test_health_answers_without_credentials_and_reveals_nothing(worker: WorkerProcess) -> None:
    response = await worker.client(auth=False).get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# -- authentication (§2)

AUTHENTICATED_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/status", None),
    ("GET", "/v1/qr", None),
    ("POST", "/v1/pair-code", {"phone": "14155550100"}),
    ("POST", "/v1/messages", None),  # filled with a valid Send below
    ("POST", "/v1/read", {"chat": "14155550100", "message_ids": ["3EB0ABCDEF"]}),
    ("POST", "/v1/presence", {"chat": "14155550100", "state": "composing"}),
    ("POST", "/v1/contacts/check", {"phones": ["14155550100"]}),
    ("GET", "/v1/media/med_unknown", None),
    ("POST", "/v1/logout", None),
    ("POST", "/v1/shutdown", {"reason": "an attacker"}),
]


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-the-token", "X-Worker-Epoch": "1"}, id="wrong-token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz", "X-Worker-Epoch": "1"}, id="not-bearer"),
    ],
)
async def test_every_endpoint_but_health_refuses_calls_without_the_worker_token(
    worker: WorkerProcess, credentials: dict[str, str]
) -> None:
    client = worker.client(auth=False, headers=credentials)
    for method, path, body in AUTHENTICATED_CALLS:
        payload = sample_send("text") if path == "/v1/messages" else body
        response = await client.request(method, path, json=payload)
        assert_problem(response, 401, "unauthorized")
    # Nothing was done on the strength of those calls: no logout, no shutdown.
    assert worker.running
    assert await connection_state(worker) != "logged_out"


async def test_tokens_of_other_epochs_are_refused(gateway: FakeGateway, start_worker: StartWorker) -> None:
    worker = await start_worker(epoch=2)
    for other in (1, 3):
        headers = {"Authorization": f"Bearer {gateway.token_for(other)}", "X-Worker-Epoch": str(other)}
        response = await worker.client(auth=False, headers=headers).get("/v1/status")
        assert_problem(response, 401, "unauthorized")
    assert (await worker.http.get("/v1/status")).status_code == 200


# -- status and connection states (§4)


async def test_status_describes_the_instance(
    provider: ProviderSpec, gateway: FakeGateway, worker: WorkerProcess
) -> None:
    before = time.time()
    response = await worker.http.get("/v1/status")
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["instance_id"] == gateway.instance_id
    assert status["epoch"] == 1
    assert status["provider"] == provider.name
    assert worker.ready_data is not None
    assert status["provider_version"] == worker.ready_data["provider_version"]
    assert status["protocol"] == PROTOCOL_VERSION
    assert status["connection_state"] in CONNECTION_STATES
    assert isinstance(status["spooled_events"], int)
    assert status["spooled_events"] >= 0
    started_at = parse_timestamp(status["started_at"])
    assert started_at is not None, status["started_at"]
    assert started_at.timestamp() <= before + 1


async def test_unreachable_network_is_reported_not_connected(gateway: FakeGateway, worker: WorkerProcess) -> None:
    statuses = await eventually(
        lambda: gateway.connection_states() or None, 20, "an instance.status event", worker=worker
    )
    assert "connected" not in statuses
    assert await connection_state(worker) != "connected"

    # What webhooks were told matches what the API says (both move while the worker retries: poll until they meet).
    async def reported_matches_status() -> bool:
        return gateway.connection_states()[-1] == await connection_state(worker)

    deadline = time.monotonic() + 15
    while not await reported_matches_status():
        assert time.monotonic() < deadline, (gateway.connection_states(), await connection_state(worker))
        await _sleep()
    assert "connected" not in gateway.connection_states()


# -- QR, pair code, media (§4)


async def test_qr_is_unavailable_while_not_waiting_for_a_scan(worker: WorkerProcess) -> None:
    # Offline there is no QR to show: the worker is neither in `qr` state nor connected.
    assert await connection_state(worker) not in {"qr", "connected"}
    response = await worker.http.get("/v1/qr")
    assert await connection_state(worker) not in {"qr", "connected"}
    assert_problem(response, 404, "qr_unavailable")


async def test_pair_code_is_501_for_providers_without_pair_codes(provider: ProviderSpec, worker: WorkerProcess) -> None:
    if provider.pair_code:
        pytest.skip(f"{provider.name} supports pair codes; what it answers offline is the online suite's business")
    response = await worker.http.post("/v1/pair-code", json={"phone": "14155550100"})
    assert_problem(response, 501, "unsupported")


async def test_unknown_media_is_404(worker: WorkerProcess) -> None:
    response = await worker.http.get(f"/v1/media/{new_id('med')}")
    assert_problem(response, 404, "media_not_found")


# -- sending (§5)


async def answers_against(
    worker: WorkerProcess, cases: dict[str, dict[str, Any] | bytes], status: int | None, code: str | None = None
) -> list[str]:
    """Each case posted to /v1/messages; the cases whose answer is not that problem (`status` None: any 4xx)."""
    wrong = []
    for name, case in cases.items():
        if isinstance(case, bytes):
            response = await worker.http.post(
                "/v1/messages", content=case, headers={"Content-Type": "application/json"}
            )
        else:
            response = await worker.http.post("/v1/messages", json=case)
        try:
            if status is None:
                assert 400 <= response.status_code < 500, f"expected a 4xx, got {response.status_code}: {response.text}"
            assert_problem(response, status or response.status_code, code)
        except AssertionError as exc:
            wrong.append(f"{name}: {str(exc).splitlines()[0]}")
    return wrong


async def test_send_to_a_malformed_recipient_is_invalid_recipient(worker: WorkerProcess) -> None:
    # Validation comes before the connection check: the control plane must learn that retrying later is useless.
    recipients = ["not-a-number", "4155abc0100", "14155550100@example.com", "hello@g"]
    cases: dict[str, dict[str, Any] | bytes] = {r: {**sample_send("text"), "to": r} for r in recipients}
    assert await answers_against(worker, cases, 422, "invalid_recipient") == []


async def test_send_of_a_type_the_provider_lacks_is_unsupported_message_type(
    provider: ProviderSpec, worker: WorkerProcess
) -> None:
    cases: dict[str, dict[str, Any] | bytes] = {"hologram": {**sample_send("text"), "type": "hologram"}}
    cases.update({t: sample_send(t) for t in MESSAGE_TYPES if t not in provider.message_types})
    assert await answers_against(worker, cases, 422, "unsupported_message_type") == []


def _without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in keys}


INCOMPLETE_SENDS: dict[str, dict[str, Any]] = {
    "empty-object": {},
    "no-id": _without(sample_send("text"), "id"),
    "no-to": _without(sample_send("text"), "to"),
    "no-type": _without(sample_send("text"), "type"),
    "text-without-text": _without(sample_send("text"), "text"),
    "empty-text": {**sample_send("text"), "text": ""},
    "text-over-4096": {**sample_send("text"), "text": "x" * 4097},
    "image-without-media": _without(sample_send("image"), "media"),
    "location-without-coordinates": {**sample_send("location"), "location": {"name": "nowhere"}},
    "reaction-without-message-id": {**sample_send("reaction"), "reaction": {"emoji": "👍"}},
}


async def test_send_with_missing_or_invalid_fields_is_422(provider: ProviderSpec, worker: WorkerProcess) -> None:
    # §5 names no code for these; any problem document with 422 will do.
    cases: dict[str, dict[str, Any] | bytes] = {
        name: body
        for name, body in INCOMPLETE_SENDS.items()
        if body.get("type") not in MESSAGE_TYPES or body["type"] in provider.message_types
    }
    assert await answers_against(worker, cases, 422) == []


async def test_send_with_a_body_that_is_not_a_send_object_is_a_4xx_problem(worker: WorkerProcess) -> None:
    cases: dict[str, dict[str, Any] | bytes] = {
        "truncated": b'{"id": "msg_1", "to": ',
        "array": b"[]",
        "null": b"null",
        "string": b'"text"',
        "not-utf8": b"\xff\xfe not utf-8",
    }
    assert await answers_against(worker, cases, None) == []


async def test_send_of_every_supported_type_while_not_connected_is_not_connected(
    provider: ProviderSpec, worker: WorkerProcess
) -> None:
    for message_type in sorted(provider.message_types):
        response = await worker.http.post("/v1/messages", json=sample_send(message_type))
        assert response.status_code == 409, f"{message_type}: {response.status_code} {response.text}"
        assert_problem(response, 409, "not_connected")


async def test_contact_check_of_more_than_50_phones_is_422(worker: WorkerProcess) -> None:
    phones = [f"1415555{n:04d}" for n in range(51)]
    assert_problem(await worker.http.post("/v1/contacts/check", json={"phones": phones}), 422)


# -- shutdown and signals (§9)


@pytest.mark.parametrize("body", [{"reason": "conformance suite"}, None], ids=["with-reason", "without-body"])
async def test_shutdown_call_is_accepted_and_the_worker_exits_0(
    worker: WorkerProcess, body: dict[str, str] | None
) -> None:
    response = await worker.http.post("/v1/shutdown", json=body)
    assert response.status_code == 202, response.text
    assert await worker.wait_exit(SHUTDOWN_DEADLINE) == 0


async def test_sigterm_makes_the_worker_exit_0(worker: WorkerProcess) -> None:
    worker.send_signal(signal.SIGTERM)
    assert await worker.wait_exit(SHUTDOWN_DEADLINE) == 0


async def test_sigterm_while_the_control_plane_is_down_still_exits_in_time(
    gateway: FakeGateway, worker: WorkerProcess
) -> None:
    # The spool flush is bounded (10 s): an unreachable control plane must not keep a stopping worker alive.
    gateway.down = True
    worker.send_signal(signal.SIGTERM)
    assert await worker.wait_exit(SHUTDOWN_DEADLINE) == 0


# -- fencing (§2)


async def test_a_worker_whose_epoch_is_superseded_exits_75_at_its_next_call(
    provider: ProviderSpec, gateway: FakeGateway, worker: WorkerProcess
) -> None:
    # A newer worker owns the number now. The sandbox worker calls the gateway on its own (it keeps retrying the
    # unreachable hub); a provider that does not names a call that makes it (ProviderSpec.provoke_gateway_call).
    gateway.current_epoch = 2
    if provider.provoke_gateway_call is not None:
        await provider.provoke_gateway_call(worker)
    first_refusal = await eventually(
        lambda: next((c for c in gateway.calls_of_epoch(1) if c.status == 409), None),
        FENCING_DEADLINE,
        "a call from the superseded worker",
        worker=worker,
    )
    assert await worker.wait_exit(SHUTDOWN_DEADLINE) == EXIT_EPOCH_SUPERSEDED, f"refused: {first_refusal}"
    # "Stop at once": calls already in flight may still arrive, a worker that goes on retrying does not stop.
    later = [f"{c.method} {c.path}" for c in gateway.calls_of_epoch(1) if c.seq > first_refusal.seq]
    assert len(later) < 5, later


# -- the event spool (§6)


def _attempted_ids(gateway: FakeGateway) -> list[str]:
    return [str(e["id"]) for e in gateway.attempted_events]


def assert_in_spool_order(gateway: FakeGateway) -> None:
    """Accepted events keep the order they were first offered in, and their timestamps never go back."""
    accepted = [e.id for e in gateway.events]
    offered = [i for i in _attempted_ids(gateway) if i in set(accepted)]
    assert accepted == offered
    stamps = [parse_timestamp(e.event["timestamp"]) for e in gateway.events]
    assert all(a is not None and b is not None and a <= b for a, b in itertools.pairwise(stamps)), [
        (e.type, e.event["timestamp"]) for e in gateway.events
    ]


async def test_events_made_while_the_control_plane_is_down_arrive_once_it_is_back(
    gateway: FakeGateway, start_worker: StartWorker
) -> None:
    gateway.down = True
    listen = f"127.0.0.1:{free_port()}"  # known in advance: worker.ready cannot tell us while the gateway is down
    worker = await start_worker(listen=listen, wait_ready=False)
    await eventually(
        lambda: {"worker.ready", "instance.status"} <= {e["type"] for e in gateway.attempted_events},
        20,
        "delivery attempts of worker.ready and instance.status",
        worker=worker,
    )
    status = (await worker.client().get("/v1/status")).json()
    assert status["spooled_events"] >= 2, status
    offered_while_down = _attempted_ids(gateway)

    gateway.down = False
    accepted = await eventually(
        lambda: set(offered_while_down) <= {e.id for e in gateway.events},
        30,
        "every event offered while the gateway was down",
        worker=worker,
    )
    assert accepted
    assert_in_spool_order(gateway)
    assert (await worker.wait_ready(within=1))["listen"] == listen

    async def spool_drained() -> int:
        return int((await worker.http.get("/v1/status")).json()["spooled_events"])

    deadline = time.monotonic() + 15
    while await spool_drained() != 0:
        assert time.monotonic() < deadline, "spooled_events never went back to 0 after delivery"
        await _sleep()


async def test_a_restarted_worker_delivers_what_its_killed_predecessor_spooled(
    gateway: FakeGateway, start_worker: StartWorker
) -> None:
    gateway.down = True
    first = await start_worker(epoch=1, listen=f"127.0.0.1:{free_port()}", wait_ready=False)
    await eventually(
        lambda: {"worker.ready", "instance.status"} <= {e["type"] for e in gateway.attempted_events},
        20,
        "delivery attempts of worker.ready and instance.status",
        worker=first,
    )
    # Offered means spooled (§6: append to the spool before trying to deliver): kill -9 loses none of these.
    spooled_by_first = _attempted_ids(gateway)
    first.process.kill()
    await first.wait_exit(10)

    second = await start_worker(epoch=2, data_dir=first.data_dir, listen=f"127.0.0.1:{free_port()}", wait_ready=False)
    await eventually(
        lambda: any(c.epoch == "2" and c.kind == "events" for c in gateway.calls),
        20,
        "a call of epoch 2",
        worker=second,
    )
    gateway.down = False
    await second.wait_ready()
    await eventually(
        lambda: set(spooled_by_first) <= {e.id for e in gateway.events},
        30,
        "the killed worker's spooled events",
        worker=second,
    )
    # Delivered, though the control plane ignores it as a readiness signal (its epoch is not the current one).
    first_ready = [e for e in gateway.events_of_type("worker.ready") if e.data.get("epoch") == first.epoch]
    assert len(first_ready) == 1
    # The predecessor's events come first: a webhook must not see the old worker's states after the new one's.
    accepted = [e.id for e in gateway.events]
    second_ready = next(e.id for e in gateway.events_of_type("worker.ready") if e.data.get("epoch") == second.epoch)
    assert max(accepted.index(i) for i in spooled_by_first) < accepted.index(second_ready)
    assert_in_spool_order(gateway)


# -- the state store (§7)


# What a worker may say before it knows whether it has a session: nothing that depends on it.
STATES_BEFORE_SESSION = frozenset({"starting", "connecting"})


async def test_a_worker_on_an_empty_data_dir_waits_for_its_session_from_the_state_store(
    gateway: FakeGateway, start_worker: StartWorker
) -> None:
    # The session lives in the control plane: a worker on a new node (empty DATA_DIR) must ask for it, and must not
    # decide its state (a QR to scan, logged out, connected, …) before the answer. The fake holds the answer back.
    gateway.hold_state_reads()
    listen = f"127.0.0.1:{free_port()}"  # the worker may read the store before it announces itself
    worker = await start_worker(listen=listen, wait_ready=False)
    read = await eventually(
        lambda: next((c for c in gateway.calls if c.reads_state), None), 20, "a read of the state store", worker=worker
    )
    states_while_waiting = set(gateway.connection_states())
    deadline = time.monotonic() + 2
    async with httpx.AsyncClient(base_url=f"http://{listen}", headers=worker.auth_headers()) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                response = await client.get("/v1/status")
                states_while_waiting.add(response.json()["connection_state"])
            await _sleep()
    states_while_waiting.update(gateway.connection_states())
    assert states_while_waiting <= STATES_BEFORE_SESSION, f"before the state store answered {read}"

    gateway.release_state_reads()
    await worker.wait_ready()
    # Once it has its (empty) session it goes on: offline, to a state that says it cannot reach the network.
    await eventually(
        lambda: set(gateway.connection_states()) - STATES_BEFORE_SESSION, 20, "a state past connecting", worker=worker
    )


async def _sleep() -> None:
    await asyncio.sleep(0.1)
