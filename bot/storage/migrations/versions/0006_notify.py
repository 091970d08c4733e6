"""notify: when an agent last wrote, when the customer last saw the chat, when the shop's push hook was called

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = (
    sa.Float()
    .with_variant(mysql.DOUBLE(asdecimal=False), "mariadb")
    .with_variant(mysql.DOUBLE(asdecimal=False), "mysql")
)
COLUMNS = ("last_agent_at", "customer_seen_at", "notified_at")


def upgrade() -> None:
    with op.batch_alter_table("cs_session") as t:
        for name in COLUMNS:
            t.add_column(sa.Column(name, EPOCH))
    op.create_index("idx_unseen", "cs_session", ["tenant_id", "session_state", "last_agent_at"])


def downgrade() -> None:
    op.drop_index("idx_unseen", table_name="cs_session")
    with op.batch_alter_table("cs_session") as t:
        for name in COLUMNS:
            t.drop_column(name)
