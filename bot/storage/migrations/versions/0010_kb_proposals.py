"""knowledge: similar questions proposed by an LLM, pending review (``csbot kb import --propose-similar``)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mariadb").with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    op.create_table(
        "cs_kb_proposal",
        sa.Column("proposal_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("faq_ext_id", sa.String(length=128), nullable=False, comment="cs_faq.ext_id"),
        sa.Column("text", sa.String(length=255), nullable=False, comment="a proposed similar question, PII-masked"),
        sa.Column("source", sa.String(length=160), nullable=False, comment="who generated it, e.g. llm:<model>"),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("reviewed_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("proposal_id"),
    )
    op.create_index("idx_kb_proposal_faq", "cs_kb_proposal", ["tenant_id", "faq_ext_id"])


def downgrade() -> None:
    op.drop_index("idx_kb_proposal_faq", table_name="cs_kb_proposal")
    op.drop_table("cs_kb_proposal")
