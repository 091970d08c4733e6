"""Privacy fixtures: a seeded world on the embedded SQLite default and on the machine's MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ids import configure
from bot.settings import load_settings

from .world import World, make_world


@pytest.fixture(params=["sqlite", "mariadb"])
def world(request: pytest.FixtureRequest, env: dict[str, str], tmp_path: Path) -> Iterator[World]:
    configure(11)
    extra = {} if request.param == "sqlite" else {"CSBOT_DATABASE__URL": request.getfixturevalue("mariadb_url")}
    w = make_world(load_settings({**env, **extra}))
    yield w
    w.close()
    w.db.dispose()


@pytest.fixture
def sqlite_world(env: dict[str, str]) -> Iterator[World]:
    configure(11)
    w = make_world(load_settings(env))
    yield w
    w.close()
    w.db.dispose()
