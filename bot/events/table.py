"""The outbox table (``cs_outbox``), declared with SQLAlchemy Core that 1.4 (the Rasa server) and 2.x share.

``seq`` orders the stream within one database; ``event_id`` is the event's Snowflake id. Rows are appended in
the writer's own transaction and removed once every reader has passed them (``bot.events.stream.sql``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()
# SQLite autoincrements only an INTEGER primary key
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Epoch = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql").with_variant(
    mysql.DOUBLE(asdecimal=False), "mariadb")  # fmt: skip
Body = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql").with_variant(mysql.MEDIUMTEXT(), "mariadb")

outbox = sa.Table(
    "cs_outbox",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.BigInteger(), nullable=False),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("stream_key", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("body", Body, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    # never reuse a purged seq: a reader's position would skip the new row
    sqlite_autoincrement=True,
)
