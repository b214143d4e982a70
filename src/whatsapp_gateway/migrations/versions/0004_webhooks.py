"""webhook endpoints, queues and deliveries (the outbox); tenant-level events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from whatsapp_gateway.ids import new_id

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
SeqInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Events about a tenant itself (an endpoint disabled, a test event) belong to no instance.
    with op.batch_alter_table("events", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("instance_id", existing_type=sa.String(40), nullable=True)
    op.create_index(op.f("ix_events_received_at"), "events", ["received_at"])

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=True),
        sa.Column("instance_webhook", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("headers_sealed", sa.Text(), nullable=True),
        sa.Column("secret_sealed", sa.Text(), nullable=True),
        sa.Column("previous_secret_sealed", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", Timestamp, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(32), nullable=True),
        sa.Column("disabled_at", Timestamp, nullable=True),
        sa.Column("failing_since", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_webhook_endpoints_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_webhook_endpoints_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(op.f("ix_webhook_endpoints_tenant_id"), "webhook_endpoints", ["tenant_id"])
    op.create_index(op.f("ix_webhook_endpoints_instance_id"), "webhook_endpoints", ["instance_id"])

    op.create_table(
        "webhook_queues",
        sa.Column("id", SeqInt, autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.String(32), nullable=False),
        sa.Column("queue_key", sa.String(32), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=True),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("lease_holder", sa.String(128), nullable=True),
        sa.Column("lease_until", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_queues_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["instances.id"], name=op.f("fk_webhook_queues_instance_id_instances"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_queues")),
        sa.UniqueConstraint("endpoint_id", "queue_key", name=op.f("uq_webhook_queues_endpoint_id_queue_key")),
    )
    op.create_index("ix_webhook_queues_due", "webhook_queues", ["pending", "next_attempt_at"])
    op.create_index(op.f("ix_webhook_queues_instance_id"), "webhook_queues", ["instance_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", SeqInt, autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.String(32), nullable=False),
        sa.Column("queue_key", sa.String(32), nullable=False),
        sa.Column("event_seq", SeqInt, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deadline_at", Timestamp, nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=True),
        sa.Column("last_attempt_at", Timestamp, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("last_latency_ms", sa.Integer(), nullable=True),
        sa.Column("delivered_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_seq"], ["events.seq"], name=op.f("fk_webhook_deliveries_event_seq_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_deliveries_queue", "webhook_deliveries", ["endpoint_id", "queue_key", "status", "id"])
    op.create_index("ix_webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_id", "id"])
    op.create_index("ix_webhook_deliveries_created", "webhook_deliveries", ["created_at"])
    op.create_index(op.f("ix_webhook_deliveries_event_seq"), "webhook_deliveries", ["event_seq"])

    # Instances given a webhook before signing existed get an endpoint without a secret, turned off: no secret can be
    # made here (SECRET_KEY is not known to migrations), and an unsigned delivery would teach receivers to skip
    # verification. Rotating the secret (POST /api/webhooks/{id}/rotate-secret) shows it and turns the endpoint on.
    connection = op.get_bind()
    instances = connection.execute(
        sa.text("SELECT id, tenant_id, webhook_url FROM instances WHERE webhook_url IS NOT NULL")
    ).all()
    endpoints = sa.table(
        "webhook_endpoints",
        *(sa.column(name) for name in ("id", "tenant_id", "instance_id", "instance_webhook", "url")),
        sa.column("event_types", sa.JSON()),
        sa.column("enabled"),
        sa.column("disabled_reason"),
        sa.column("created_at", Timestamp),
        sa.column("updated_at", Timestamp),
        sa.column("disabled_at", Timestamp),
    )
    now = dt.datetime.now(dt.UTC)
    for instance_id, tenant_id, url in instances:
        op.execute(
            endpoints.insert().values(
                id=new_id("whe"),
                tenant_id=tenant_id,
                instance_id=instance_id,
                instance_webhook=True,
                url=url,
                event_types=[],
                enabled=False,
                disabled_reason="needs_secret",
                created_at=now,
                updated_at=now,
                disabled_at=now,
            )
        )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_queues")
    op.drop_table("webhook_endpoints")
    op.drop_index(op.f("ix_events_received_at"), table_name="events")
    op.execute("DELETE FROM events WHERE instance_id IS NULL")
    with op.batch_alter_table("events", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("instance_id", existing_type=sa.String(40), nullable=False)
