"""worker-id leases: which process holds which Snowflake worker id (bot/worker_lease.py)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# DOUBLE, not FLOAT, on MySQL: epoch seconds need double precision.
EPOCH = (
    sa.Float()
    .with_variant(mysql.DOUBLE(asdecimal=False), "mariadb")
    .with_variant(mysql.DOUBLE(asdecimal=False), "mysql")
)


def upgrade() -> None:
    op.create_table(
        "cs_worker_lease",
        sa.Column("worker_id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False, comment="host:pid:random"),
        sa.Column("expires_at", EPOCH, nullable=False),
        sa.Column("updated_at", EPOCH, nullable=False, comment="last claim or renewal"),
        sa.PrimaryKeyConstraint("worker_id"),
    )


def downgrade() -> None:
    op.drop_table("cs_worker_lease")
