"""token revocations: staff tokens refused before their expiry (log-out, refresh; bot/users.py)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = (
    sa.Float()
    .with_variant(mysql.DOUBLE(asdecimal=False), "mariadb")
    .with_variant(mysql.DOUBLE(asdecimal=False), "mysql")
)


def upgrade() -> None:
    op.create_table(
        "cs_token_revocation",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("expires_at", EPOCH, nullable=False, comment="the token's own exp"),
    )
    op.create_index("idx_revocation_expiry", "cs_token_revocation", ["expires_at"])


def downgrade() -> None:
    op.drop_index("idx_revocation_expiry", table_name="cs_token_revocation")
    op.drop_table("cs_token_revocation")
