"""End to end over real HTTP: the real `wagw run`, the fake Graph API and a customer's webhook receiver on loopback.

The fake posts Meta's signed webhooks to the gateway; the customer's endpoint receives normalized, Standard-Webhooks
signed events through the outbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.fake_graph import running_fake_graph
from tests.support.gateway import wait_for
from tests.support.live import data_dir, gateway_env, started_gateway
from tests.support.receiver import Received, running_receiver

__all__ = ["data_dir", "gateway_env"]  # fixtures, used by name

USER = "972987654321"


def of_type(requests: list[Received], type: str) -> list[dict[str, Any]]:
    return [r.event for r in requests if r.event["type"] == type]


def test_a_customer_receives_meta_messages_and_statuses_as_normalized_events(
    data_dir: Path, gateway_env: dict[str, str]
) -> None:
    with running_fake_graph() as fake, running_receiver() as receiver:
        env = {**gateway_env, "WABA_GRAPH_URL": fake.url, "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
        with started_gateway(data_dir, env) as gateway:
            number = fake.add_number(statuses_after_send=["sent", "delivered", "read"], window="async")
            tenant = gateway.new_tenant()
            created = gateway.http.post(
                "/api/instances",
                json={
                    "phone": "+15550783881",
                    "provider": "waba",
                    "config": fake.config_of(number),
                    "webhook": receiver.url,
                },
                headers=tenant.headers,
            )
            assert created.status_code == 201, created.text
            instance = created.json()
            secret = instance["webhook_secret"]
            number.callback_url = f"{gateway.server.base_url}/hooks/waba/{instance['id']}"

            # Meta's handshake, then a wrong signature: refused, nothing stored.
            assert fake.handshake(number).status_code == 200
            assert fake.handshake(number, verify_token="nope").status_code == 403
            inbound = fake.inbound(number, USER, "text", {"body": "Where is my order?"}, name="Dana")
            assert fake.post_webhook(number, inbound, secret="wrong").status_code == 401
            assert gateway.events(tenant, instance["id"]) == []

            # The user writes (opening the 24-hour window); we answer; Meta reports sent, delivered, read.
            assert fake.post_webhook(number, inbound).status_code == 200
            answer = gateway.send(tenant, instance["id"], {"to": USER, "type": "text", "text": "On its way"})
            assert answer.status_code == 202, answer.text
            message = answer.json()
            # Someone who never wrote: Meta takes the message, then fails it (131047) in a status webhook.
            late = gateway.send(tenant, instance["id"], {"to": "14155550199", "type": "text", "text": "Hello?"})
            assert late.json()["status"] == "sent"

            def statuses() -> list[dict[str, Any]] | None:
                found = of_type(receiver.accepted(), "message.status")
                return found if len(found) >= 4 else None

            delivered = wait_for(statuses, timeout=30, what="four message.status events at the customer")
            for request in receiver.accepted():
                request.verify(secret)
            [received] = of_type(receiver.accepted(), "message.received")
            assert received["instance"] == instance["id"]
            assert received["data"]["text"] == "Where is my order?"
            assert received["data"]["from"]["phone"] == USER
            ours = [e["data"]["status"] for e in delivered if e["data"]["id"] == message["id"]]
            assert ours == ["sent", "delivered", "read"]
            [failed] = [e for e in delivered if e["data"]["id"] == late.json()["id"]]
            assert failed["data"]["status"] == "failed"
            assert failed["data"]["errors"][0]["code"] == 131047
            assert gateway.message(tenant, instance["id"], late.json()["id"])["status"] == "failed"
            assert gateway.message(tenant, instance["id"], message["id"])["status"] == "read"
            # Rounds of the reconciler went by: it never started a worker for the number Meta hosts.
            after = gateway.instance(tenant, instance["id"])
            assert (after["epoch"], after["status"], after["connection_state"]) == (0, "running", "connected")
            assert not (data_dir / "instances" / instance["id"]).exists()
