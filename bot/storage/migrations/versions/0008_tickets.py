"""tickets: the number customers are told, where a ticket came from, its SLA clock and escalations

``cs_ticket`` gains what the ticket service needs (``handoff.tickets``): ``ticket_no`` (short, per tenant,
read out to customers), the conversation it came from, ``source``/``source_key`` (one ticket per source event,
also with two handoff instances running the clock: a unique key), who created it, when it was resolved and
closed, the SLA clock paused while waiting for the customer, and the escalation level the SLA evaluator's
compare-and-set moves. ``cs_ticket_comment`` says who wrote a comment (agent, customer, system).
``cs_left_message`` gets an index on ``status`` for the sweep that turns new ones into tickets.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mariadb").with_variant(mysql.DATETIME(fsp=6), "mysql")
TINY = sa.SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")


def ticket_columns() -> tuple[sa.Column, ...]:
    return (
        sa.Column("ticket_no", sa.String(20), comment="what the customer is told, e.g. T2601010007"),
        sa.Column("conversation_id", sa.String(128), comment="Rasa sender id"),
        sa.Column("customer_ref", sa.String(128), comment="the shop's customer id (or visitor)"),
        sa.Column("channel", sa.String(32)),
        sa.Column("source", sa.String(32), comment="agent / left_message / queue_timeout / complaint / undelivered"),
        sa.Column("source_key", sa.String(64), comment="one ticket per source event"),
        sa.Column("created_by", sa.BigInteger(), comment="the agent; NULL: created automatically"),
        sa.Column("resolved_at", STAMP),
        sa.Column("closed_at", STAMP),
        sa.Column("sla_paused_at", STAMP, comment="waiting for the customer: the SLA clock stands"),
        sa.Column("escalation_level", TINY, nullable=False, server_default="0"),
        sa.Column("escalated_at", STAMP),
    )


def upgrade() -> None:
    with op.batch_alter_table("cs_ticket") as t:
        for column in ticket_columns():
            t.add_column(column)
        t.create_unique_constraint("uq_ticket_no", ["tenant_id", "ticket_no"])
        t.create_unique_constraint("uq_ticket_source", ["tenant_id", "source_key"])
    op.create_index("idx_ticket_due", "cs_ticket", ["status", "expired_at"])
    op.create_index("idx_ticket_conversation", "cs_ticket", ["tenant_id", "conversation_id"])
    op.create_index("idx_ticket_session", "cs_ticket", ["session_id"])
    with op.batch_alter_table("cs_ticket_comment") as t:
        t.add_column(sa.Column("author_role", sa.String(16), comment="agent / supervisor / customer / system"))
    op.create_index("idx_left_status", "cs_left_message", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("idx_left_status", table_name="cs_left_message")
    with op.batch_alter_table("cs_ticket_comment") as t:
        t.drop_column("author_role")
    op.drop_index("idx_ticket_session", table_name="cs_ticket")
    op.drop_index("idx_ticket_conversation", table_name="cs_ticket")
    op.drop_index("idx_ticket_due", table_name="cs_ticket")
    with op.batch_alter_table("cs_ticket") as t:
        t.drop_constraint("uq_ticket_source", type_="unique")
        t.drop_constraint("uq_ticket_no", type_="unique")
        for column in reversed(ticket_columns()):
            t.drop_column(column.name)
