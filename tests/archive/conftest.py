"""Fixtures for the stream and the archive: a migrated platform database (SQLite or the real MariaDB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ids import configure
from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database


@pytest.fixture(params=["sqlite", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'csbot.db'}"
    return request.getfixturevalue("mariadb_url")


@pytest.fixture
def stream_settings(env: dict[str, str], db_url: str) -> Settings:
    configure(7)
    return load_settings({**env, "CSBOT_DATABASE__URL": db_url})


@pytest.fixture
def db(stream_settings: Settings) -> Iterator[Database]:
    database = Database.from_settings(stream_settings)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()
