"""knowledge: index versions, per-tenant KB generation, low-confidence questions

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mariadb").with_variant(mysql.DATETIME(fsp=6), "mysql")
TINY = sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql")


def upgrade() -> None:
    op.create_table(
        "cs_kb_index_version",
        sa.Column("version_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("embed_type", sa.String(length=128), nullable=False),
        sa.Column("embed_options", sa.JSON(), nullable=True),
        sa.Column("model_id", sa.String(length=255), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector_collection", sa.String(length=128), nullable=False),
        sa.Column("keyword_index", sa.String(length=128), nullable=False),
        sa.Column("entries", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("activated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("version_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("idx_kb_version_status", "cs_kb_index_version", ["status"])
    op.create_table(
        "cs_kb_state",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", TS, server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "cs_kb_lowconf",
        sa.Column("lowconf_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("query", sa.Text(), nullable=False, comment="PII-masked"),
        sa.Column("top_ref", sa.String(length=160), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("reviewed", TINY, server_default="0", nullable=False),
        sa.Column("created_at", TS, server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.PrimaryKeyConstraint("lowconf_id"),
    )
    op.create_index("idx_lowconf_tenant_time", "cs_kb_lowconf", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("idx_lowconf_tenant_time", table_name="cs_kb_lowconf")
    op.drop_table("cs_kb_lowconf")
    op.drop_table("cs_kb_state")
    op.drop_index("idx_kb_version_status", table_name="cs_kb_index_version")
    op.drop_table("cs_kb_index_version")
