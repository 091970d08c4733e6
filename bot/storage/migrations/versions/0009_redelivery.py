"""redelivery: an agent line Rasa did not take is sent again for a while before it becomes a follow-up ticket

``cs_left_message`` rows with reason ``undelivered`` now name the handoff line they carry (``line_id``) and,
while status is ``retrying``, when an instance may next try it (``retry_at``, also the lease that keeps two
instances from sending it at once) and when trying stops and the follow-up ticket is opened (``retry_until``).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# epoch seconds need a double: MySQL's FLOAT is single precision, 128 s coarse at today's epoch
EPOCH = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("cs_left_message") as t:
        t.add_column(sa.Column("line_id", sa.BigInteger(), comment="the undelivered handoff line (cs_handoff_line)"))
        t.add_column(sa.Column("retry_at", EPOCH, comment="epoch s: next try; the lease of whoever tries"))
        t.add_column(sa.Column("retry_until", EPOCH, comment="epoch s: then a follow-up ticket instead"))


def downgrade() -> None:
    with op.batch_alter_table("cs_left_message") as t:
        t.drop_column("retry_until")
        t.drop_column("retry_at")
        t.drop_column("line_id")
