"""Relational storage: SQLAlchemy 2 models of the seed's cs_* tables, engine/session helpers, migrations."""

from bot.storage.db import Database, make_engine
from bot.storage.models import Base

__all__ = ["Base", "Database", "make_engine"]
