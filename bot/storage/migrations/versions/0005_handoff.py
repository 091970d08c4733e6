"""handoff: session queue/timing columns, agent capacity, session events, offers, the agent feed, left messages

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = (
    sa.Float()
    .with_variant(mysql.DOUBLE(asdecimal=False), "mariadb")
    .with_variant(mysql.DOUBLE(asdecimal=False), "mysql")
)
TINY = sa.SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")
SESSION_COLUMNS = {
    "customer_ref": lambda: sa.String(128), "customer_name": lambda: sa.String(64), "reason": lambda: sa.String(32),
    "tags": lambda: sa.String(255), "queue_rank": lambda: EPOCH, "queued_at": lambda: EPOCH,
    "assigned_at": lambda: EPOCH, "first_response_at": lambda: EPOCH, "last_customer_at": lambda: EPOCH,
    "warned_at": lambda: EPOCH, "target_agent_id": sa.BigInteger, "transfer_note": lambda: sa.String(500),
    "csat": lambda: TINY,
}  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("cs_session") as t:
        for name, kind in SESSION_COLUMNS.items():
            t.add_column(sa.Column(name, kind()))
        t.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("idx_queue", "cs_session", ["tenant_id", "session_state", "skill_group", "queue_rank"])
    op.create_index("idx_agent_state", "cs_session", ["agent_id", "session_state"])
    with op.batch_alter_table("cs_user") as t:
        t.add_column(sa.Column("capacity", sa.SmallInteger(), nullable=False, server_default="5"))
    op.create_table(
        "cs_session_event",
        sa.Column("event_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.BigInteger()),
        sa.Column("detail", sa.JSON()),
        sa.Column("at", EPOCH, nullable=False),
    )
    op.create_index("idx_session_event", "cs_session_event", ["session_id", "at"])
    op.create_table(
        "cs_offer",
        sa.Column("offer_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", EPOCH, nullable=False),
        sa.Column("expires_at", EPOCH, nullable=False),
    )
    op.create_index("idx_offer_session", "cs_offer", ["session_id", "status"])
    op.create_index("idx_offer_agent", "cs_offer", ["agent_id", "status"])
    op.create_table(
        "cs_agent_feed",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
        sa.Column("agent_id", sa.BigInteger()),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("session_id", sa.BigInteger()),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("at", EPOCH, nullable=False),
    )
    op.create_index("idx_feed_agent", "cs_agent_feed", ["tenant_id", "agent_id", "seq"])
    op.create_table(
        "cs_left_message",
        sa.Column("left_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
        sa.Column("session_id", sa.BigInteger()),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("customer_ref", sa.String(128)),
        sa.Column("reason", sa.String(32)),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
                  server_default=sa.func.now()),
    )
    op.create_index("idx_left_tenant_status", "cs_left_message", ["tenant_id", "status"])


def downgrade() -> None:
    for name in ("cs_left_message", "cs_agent_feed", "cs_offer", "cs_session_event"):
        op.drop_table(name)
    with op.batch_alter_table("cs_user") as t:
        t.drop_column("capacity")
    op.drop_index("idx_agent_state", table_name="cs_session")
    op.drop_index("idx_queue", table_name="cs_session")
    with op.batch_alter_table("cs_session") as t:
        for name in ["version", *reversed(SESSION_COLUMNS)]:
            t.drop_column(name)
