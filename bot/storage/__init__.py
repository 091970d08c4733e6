"""Relational storage: SQLAlchemy 2 models of the seed's cs_* tables (``models``), engine/session helpers
(``db``), migrations. ``db`` imports no model, so the Rasa server (SQLAlchemy 1.4) can use it to lease a
Snowflake worker id."""
