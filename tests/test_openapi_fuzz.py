"""Schema-driven fuzzing of every API operation, on both database backends.

Schemathesis reads the app's own OpenAPI document and generates requests for each operation: valid ones, and invalid
ones the API must refuse. Every answer must have a documented status, content type and body schema, must never be a
5xx, and every error must be a problem document. Invalid input must be refused with a 4xx.

The requests go to the session's app through httpx's ASGI transport, on the session's event loop: Schemathesis's own
ASGI client would run the app on an event loop of its own, which the database connections of the session's app are
not bound to. Schemathesis still builds each request (`as_transport_kwargs`) and judges each answer
(`validate_response`).

Each operation is called by its natural caller (a tenant's key on tenant routes, the operator's key on admin routes,
no one on probes), and each tenant route once more by the operator; now and then an example keeps the generated
credentials instead (missing, empty or bogus). Generated ids almost never name anything, so most examples swap them
for ids that exist (the caller's tenant, another tenant, their keys and instances, or mangled variants of these ids)
and lay valid fields over the generated body, so that existing resources and successful writes are fuzzed too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import OPERATOR_KEY, empty_tables
from tests.support.api import Api, TenantWithKey, bearer
from whatsapp_gateway.app import create_app
from whatsapp_gateway.config import Settings
from whatsapp_gateway.errors import PROBLEM_MEDIA_TYPE
from whatsapp_gateway.instance.fields import MEMORY_MAX_BYTES
from whatsapp_gateway.instance.models import Provider
from whatsapp_gateway.pagination import encode_cursor

BASE_URL = "http://gateway.test"


def _load_schema() -> schemathesis.BaseSchema:
    # Building the app reads no setting that shapes the API and touches no database; only its OpenAPI is used.
    app = create_app(Settings.model_validate({"api_secret": "openapi-only", "migrate_on_start": False}))
    return schemathesis.openapi.from_dict(app.openapi(), config=schemathesis.Config())


SCHEMA = _load_schema()
OPERATIONS: dict[str, APIOperation] = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}

# Who calls each operation "naturally": no one for probes, the operator for admin routes, a tenant for the rest.
ADMIN_OPERATIONS = {"POST /api/tenants", "GET /api/tenants"}
PUBLIC_OPERATIONS = {"GET /healthz", "GET /readyz"}


def _caller_of(label: str) -> str:
    # The worker API takes worker tokens only: every key is a stranger there, so one run without a key suffices.
    if label in PUBLIC_OPERATIONS or " /internal/" in label:
        return "anyone"
    return "operator" if label in ADMIN_OPERATIONS else "tenant"


# Each operation with its natural caller, and every tenant route once more with the operator's key.
FUZZ_RUNS = [(label, _caller_of(label)) for label in OPERATIONS] + [
    (label, "operator") for label in OPERATIONS if _caller_of(label) == "tenant"
]

CONFORMANCE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

FUZZ_SETTINGS = settings(
    max_examples=60,
    # One example is several requests to a real database; its duration says nothing about correctness.
    deadline=None,
    # The same examples on every run, so that a CI failure reproduces on a laptop.
    derandomize=True,
    database=None,
    suppress_health_check=[
        # `client` and `world` are shared by the examples on purpose; the world is rebuilt whenever an example
        # may have changed it (see `World`).
        HealthCheck.function_scoped_fixture,
        # Schemathesis's strategies are large (whole requests); generating them is slow, not wrong.
        HealthCheck.too_slow,
    ],
)


@cache
def _cases(label: str) -> st.SearchStrategy[Case]:
    operation = OPERATIONS[label]
    return operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)


# -- the data every example starts from ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What exists when an example starts: the caller's tenant, another tenant, and an instance of each.

    Both instances share a phone number, so that the operator looking one up by phone meets an ambiguous number.
    """

    own: TenantWithKey
    other: TenantWithKey
    own_instance: dict[str, Any]
    other_instance: dict[str, Any]


class World:
    """Rebuilds the snapshot before an example whenever a previous example may have changed the data.

    A write the API refused (4xx) changed nothing, so the next example may start from the same snapshot.
    """

    def __init__(self, app: FastAPI, api: Api) -> None:
        self.app = app
        self.api = api
        self.snapshot: Snapshot | None = None

    async def ready(self) -> Snapshot:
        if self.snapshot is None:
            await empty_tables(self.app)
            own, other = await self.api.new_tenant(), await self.api.new_tenant()
            own_instance = await self.api.new_instance(own)
            other_instance = await self.api.new_instance(other, phone=own_instance["phone"])
            self.snapshot = Snapshot(own, other, own_instance, other_instance)
        return self.snapshot

    def spoil(self) -> None:
        self.snapshot = None

    def keep(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot


@pytest.fixture
def world(app: FastAPI, api: Api) -> World:
    return World(app, api)


# -- steering generated cases towards existing resources and valid values ------------------------------------------


class Steering(enum.Enum):
    # Most wanted first, as Hypothesis draws early members more often: generated ids almost never exist and
    # generated bodies are rarely valid, so left alone, examples would hardly get past lookup and validation.
    VALID = "aim ids at existing resources and lay valid fields over the generated body"
    EXISTING = "aim ids at existing resources (or at mangled variants of their ids)"
    GENERATED = "leave the case as generated"


# What gets appended to a real id to make a nasty one: NUL (PostgreSQL refuses it in text), `/` (a path separator
# once the path is decoded), blanks, or any short text.
id_suffixes = st.one_of(st.sampled_from(["\x00", "/"]), st.sampled_from([" ", "\n", "%00"]), st.text(max_size=3))
valid_phones = st.from_regex(r"\A\+?[1-9]( ?[0-9]){6,14}\Z")
valid_cpus = st.decimals(min_value=Decimal("0.01"), max_value=64, places=2).map(str)
memories = st.one_of(
    st.integers(16, 4096).map(lambda n: f"{n}m"),
    # Long spellings of sizes in range: over ten billion bytes, gigabytes to the ninth decimal.
    st.integers(10**10, MEMORY_MAX_BYTES).map(str),
    st.builds("{}.{:09d}g".format, st.integers(0, 255), st.integers(1, 10**9 - 1)),
    # Any spelling the API documents: bytes, k, m or g, decimals, an optional `b`/`ib`; some are out of range.
    st.from_regex(r"\A[0-9]{1,12}(\.[0-9]{1,9})?[kmgKMG]?(i?b)?\Z"),
)
resources = st.fixed_dictionaries({}, optional={"cpu": valid_cpus, "memory": memories})
names = st.one_of(
    st.sampled_from(["support line", "  sales  ", "x" * 100]),
    st.text(st.characters(categories=["L", "M", "N", "P", "S"], include_characters=" "), min_size=1, max_size=100),
)
emails = st.one_of(st.sampled_from(["ops@acme.example", "Ops@Acme.Example"]), st.emails())
# URIs as the schema declares them (`format: uri`), so ASCII: an IDN host is given in its punycode form.
webhooks = st.sampled_from(
    ["https://app.example/hooks/whatsapp", "http://10.0.0.7:8080/wa?x=1", "HTTPS://xn--bcher-kva.example/h", None]
)


def existing_ids(*ids: str) -> st.SearchStrategy[str]:
    """Ids of existing resources: three times in four as they are, otherwise mangled."""
    mangled = st.tuples(st.sampled_from(ids), id_suffixes).map("".join)
    return st.sampled_from([st.sampled_from(ids)] * 3 + [mangled]).flatmap(lambda strategy: strategy)


def _aim_at_existing(case: Case, snapshot: Snapshot, data: st.DataObject) -> None:
    own, other = snapshot.own, snapshot.other
    tenant_ids = existing_ids(own.id, other.id)
    path_ids = {
        "instance": existing_ids(
            snapshot.own_instance["id"],
            snapshot.own_instance["phone"],
            "+" + snapshot.own_instance["phone"],
            snapshot.other_instance["id"],
        ),
        "tenant_id": tenant_ids,
        "key_id": existing_ids(own.key_id, other.key_id),
    }
    if case.path_parameters:
        # Generated path values come percent-encoded; so must these.
        # Parameters without real resources behind them here (message and media ids, worker routes) stay generated.
        case.path_parameters = {
            name: quote(data.draw(path_ids[name], label=f"path {name}"), safe="") if name in path_ids else value
            for name, value in case.path_parameters.items()
        }
    if isinstance(case.query, dict) and case.query:
        query = dict(case.query)
        if "tenant_id" in query:
            query["tenant_id"] = data.draw(tenant_ids, label="query tenant_id")
        if "cursor" in query:
            cursors = st.sampled_from([own.id, snapshot.own_instance["id"], own.key_id]).map(encode_cursor)
            query["cursor"] = data.draw(cursors, label="query cursor")
        case.query = query
    if isinstance(case.body, dict) and "tenant_id" in case.body:
        case.body = {**case.body, "tenant_id": data.draw(tenant_ids, label="body tenant_id")}


def _valid_body(label: str, snapshot: Snapshot) -> st.SearchStrategy[dict[str, Any]] | None:
    """Fields the API accepts (mostly), to lay over a generated body; `None` for operations without a body."""
    instance_fields = {"name": names, "webhook": webhooks, "resources": resources}
    # Creates always name a memory limit: normalising and storing sizes is where creates can go wrong.
    created_resources = st.fixed_dictionaries({"memory": memories}, optional={"cpu": valid_cpus})
    phones = st.one_of(valid_phones, st.just(snapshot.own_instance["phone"]))
    tenant_ids = st.sampled_from([snapshot.own.id, snapshot.other.id])
    return {
        "POST /api/instances": st.fixed_dictionaries(
            {
                "phone": phones,
                "provider": st.sampled_from(Provider).map(str),
                "tenant_id": tenant_ids,
                "resources": created_resources,
            },
            optional={"name": names, "webhook": webhooks},
        ),
        "PATCH /api/instances/{instance}": st.fixed_dictionaries({}, optional=instance_fields),
        "POST /api/tenants": st.fixed_dictionaries({"name": names, "email": emails}),
        "POST /api/tenants/{tenant_id}/keys": st.fixed_dictionaries({"name": names}),
    }.get(label)


def _authorize(case: Case, caller: str, snapshot: Snapshot, data: st.DataObject) -> None:
    """Send the caller's key, but now and then the generated credentials (missing, empty or bogus) instead."""
    key = {"operator": OPERATOR_KEY, "tenant": snapshot.own.key, "anyone": None}[caller]
    if key is None or data.draw(st.sampled_from([True] * 9 + [False]), label="caller's key") is False:
        return
    headers = {name: value for name, value in case.headers.items() if name.lower() != "authorization"}
    case.headers = {**headers, **bearer(key)}


# -- the test -------------------------------------------------------------------------------------------------------


async def send(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    # Schemathesis serializes the case exactly as it would send it; httpx only carries the bytes.
    prepared = requests.Request(**case.as_transport_kwargs(base_url=BASE_URL)).prepare()
    assert prepared.method is not None
    assert prepared.url is not None
    return await client.request(
        prepared.method, prepared.url, headers=dict(prepared.headers), content=prepared.body or None
    )


@pytest.mark.parametrize(("label", "caller"), FUZZ_RUNS, ids=[f"{label} as {caller}" for label, caller in FUZZ_RUNS])
@FUZZ_SETTINGS
@given(data=st.data())
async def test_every_answer_is_documented(
    label: str, caller: str, client: httpx.AsyncClient, world: World, data: st.DataObject
) -> None:
    snapshot = await world.ready()
    case = data.draw(_cases(label), label="case")
    steering = data.draw(st.sampled_from(Steering), label="steering")
    if steering is not Steering.GENERATED:
        _aim_at_existing(case, snapshot, data)
    valid_body = _valid_body(label, snapshot)
    if steering is Steering.VALID and valid_body is not None:
        generated = case.body if isinstance(case.body, dict) else {}
        case.body = {**generated, **data.draw(valid_body, label="valid fields")}
    _authorize(case, caller, snapshot, data)
    if case.method != "GET":
        world.spoil()

    response = await send(client, case)

    if 400 <= response.status_code < 500:
        world.keep(snapshot)
    # Schemathesis's record of what it made invalid describes the case as generated: once ids or fields are swapped,
    # it may blame a part that is valid by now. Whether invalid input is refused is judged on untouched cases only.
    # (Swapping the credentials is fine: Schemathesis re-checks the headers.)
    checks = CONFORMANCE_CHECKS
    if steering is Steering.GENERATED:
        checks = [*CONFORMANCE_CHECKS, negative_data_rejection]
    case.validate_response(response, checks=checks)
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert response.json()["status"] == response.status_code
