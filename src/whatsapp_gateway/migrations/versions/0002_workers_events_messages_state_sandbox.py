"""workers, events, messages, state store, sandbox hub

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
SeqInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _instance_fk(table: str, column: str = "instance_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["instances.id"], name=op.f(f"fk_{table}_{column}_instances"), ondelete="CASCADE"
    )


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("worker_token_hash")
        batch.add_column(sa.Column("worker_address", sa.String(255), nullable=True))
        batch.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("account", sa.JSON(), nullable=True))

    op.create_table(
        "events",
        sa.Column("seq", SeqInt, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("timestamp", Timestamp, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("received_at", Timestamp, nullable=False),
        _instance_fk("events"),
        _tenant_fk("events"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("instance_id", "event_id", name=op.f("uq_events_instance_id_event_id")),
        # Sequence numbers are cursors: SQLite must never reuse one after a delete.
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_events_tenant_id"), "events", ["tenant_id"])

    op.create_table(
        "messages",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_message_id", sa.String(128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("sent_at", Timestamp, nullable=True),
        sa.Column("delivered_at", Timestamp, nullable=True),
        sa.Column("read_at", Timestamp, nullable=True),
        sa.Column("failed_at", Timestamp, nullable=True),
        _instance_fk("messages"),
        _tenant_fk("messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("instance_id", "idempotency_key", name=op.f("uq_messages_instance_id_idempotency_key")),
    )
    op.create_index(op.f("ix_messages_tenant_id"), "messages", ["tenant_id"])
    op.create_index(op.f("ix_messages_provider_message_id"), "messages", ["provider_message_id"])
    op.create_index("ix_messages_status_created_at", "messages", ["status", "created_at"])

    op.create_table(
        "instance_state",
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        _instance_fk("instance_state"),
        sa.PrimaryKeyConstraint("instance_id", "key", name=op.f("pk_instance_state")),
    )
    op.create_table(
        "instance_snapshots",
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        _instance_fk("instance_snapshots"),
        sa.PrimaryKeyConstraint("instance_id", "name", "generation", name=op.f("pk_instance_snapshots")),
    )

    op.create_table(
        "sandbox_links",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        _instance_fk("sandbox_links"),
        _tenant_fk("sandbox_links"),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_sandbox_links")),
    )
    op.create_index(op.f("ix_sandbox_links_instance_id"), "sandbox_links", ["instance_id"])
    op.create_table(
        "sandbox_devices",
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("phone", sa.String(15), nullable=False),
        sa.Column("device_id", sa.String(40), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("linked_at", Timestamp, nullable=False),
        _instance_fk("sandbox_devices"),
        _tenant_fk("sandbox_devices"),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_sandbox_devices")),
    )
    op.create_index(op.f("ix_sandbox_devices_tenant_id"), "sandbox_devices", ["tenant_id"])
    op.create_table(
        "sandbox_mailbox",
        sa.Column("seq", SeqInt, autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        _instance_fk("sandbox_mailbox"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sandbox_mailbox")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sandbox_mailbox_instance_id_seq", "sandbox_mailbox", ["instance_id", "seq"])
    op.create_table(
        "sandbox_messages",
        sa.Column("provider_message_id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("sender_instance_id", sa.String(40), nullable=True),
        sa.Column("client_message_id", sa.String(80), nullable=True),
        sa.Column("sender_phone", sa.String(15), nullable=False),
        sa.Column("recipient_phone", sa.String(15), nullable=False),
        sa.Column("recipient_instance_id", sa.String(40), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        _tenant_fk("sandbox_messages"),
        _instance_fk("sandbox_messages", "sender_instance_id"),
        _instance_fk("sandbox_messages", "recipient_instance_id"),
        sa.PrimaryKeyConstraint("provider_message_id", name=op.f("pk_sandbox_messages")),
    )
    op.create_index(op.f("ix_sandbox_messages_tenant_id"), "sandbox_messages", ["tenant_id"])


def downgrade() -> None:
    for table in (
        "sandbox_messages",
        "sandbox_mailbox",
        "sandbox_devices",
        "sandbox_links",
        "instance_snapshots",
        "instance_state",
        "messages",
        "events",
    ):
        op.drop_table(table)
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("account")
        batch.drop_column("status_reason")
        batch.drop_column("worker_address")
        batch.add_column(sa.Column("worker_token_hash", sa.String(64), nullable=True))
