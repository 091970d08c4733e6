"""stream and archive: the outbox, readers' offsets, dead letters; cs_message becomes the archive

The handoff's working transcript (what the inbox shows of a handoff session) moves to ``cs_handoff_line``;
``cs_message`` is re-created as the archive the stream fills: every line of every conversation, the body
sealed with AES-256-GCM and the key id beside it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mariadb").with_variant(
    mysql.DOUBLE(asdecimal=False), "mysql")  # fmt: skip
TINY = sa.SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")
STAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mariadb").with_variant(mysql.DATETIME(fsp=6), "mysql")
BLOB = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")
TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default")


def _outbox() -> None:
    op.create_table(
        "cs_outbox",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("stream_key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", TEXT, nullable=False),
        sa.Column("created_at", EPOCH, nullable=False),
        sqlite_autoincrement=True,  # never reuse a purged seq: a reader's position would skip the new row
    )


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("cs_outbox"):  # Rasa's tracker store may have made it (same db)
        _outbox()
    op.create_table(
        "cs_stream_offset",
        sa.Column("group_name", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", EPOCH, nullable=False),
    )
    op.create_table(
        "cs_dead_letter",
        sa.Column("dl_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("position", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("body", TEXT, nullable=False, comment="the record as it came, cut at 64 KB"),
        sa.Column("created_at", EPOCH, nullable=False),
    )
    op.create_index("idx_dead_letter_time", "cs_dead_letter", ["group_name", "created_at"])

    op.rename_table("cs_message", "cs_handoff_line")
    op.create_table(
        "cs_message",
        sa.Column("msg_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("session_id", sa.BigInteger(), autoincrement=False, nullable=False,
                  comment="the conversation's number (bot.events.archive_keys)"),
        tenant(),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("customer_ref", sa.String(128)),
        sa.Column("sender_id", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("sender_role", TINY, comment="0=用户 1=客服 2=机器人"),
        sa.Column("msg_type", TINY, comment="0=text 1=image 2=file"),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("content", BLOB, nullable=False, comment="AES-256-GCM sealed JSON body"),
        sa.Column("at_list", sa.JSON()),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("msg_id", "session_id"),
        mysql_partition_by="HASH(session_id)",
        mysql_partitions="16",
    )  # fmt: skip
    op.create_index("idx_msg_conversation", "cs_message", ["tenant_id", "conversation_id", "created_at"])
    op.create_index("idx_msg_tenant_time", "cs_message", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_table("cs_message")
    op.rename_table("cs_handoff_line", "cs_message")
    op.drop_table("cs_dead_letter")
    op.drop_table("cs_stream_offset")
    op.drop_table("cs_outbox")
