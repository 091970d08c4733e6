"""Shared fixtures: isolated CSBOT_HOMEs, the machine's real MariaDB and Redis, free ports."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
MARIADB_ADMIN = dict(host="127.0.0.1", port=3306, user="root", password="")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, and never one handed out before in this run: the kernel may offer the same
    free port to two calls in a row (CI saw Rasa and the action server of one platform given one port)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """A clean environment for a fresh CSBOT_HOME (no CSBOT_* leaking in from the developer's shell)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    base["CSBOT_HOME"] = str(home)
    return base


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh database on the machine's MariaDB, dropped afterwards."""
    import pymysql

    name = f"csbot_test_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(**MARIADB_ADMIN)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def redis_db() -> Iterator[int]:
    """A Redis logical database number on the machine's Redis, flushed before and after."""
    import redis

    db = 9
    client = redis.Redis(host="127.0.0.1", port=6379, db=db)
    client.flushdb()
    yield db
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus standalone server (PyPI ``milvus``) for the session, on a free port; yields its URI.
    One per session: the package runs a single server per process."""
    from milvus import default_server

    default_server.set_base_dir(str(tmp_path_factory.mktemp("milvus-server")))
    default_server.listen_port = free_port()
    default_server.start()
    try:
        yield f"http://127.0.0.1:{default_server.listen_port}"
    finally:
        default_server.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """PII masked in every log line: the run fails if a log file it produced holds a phone number the tests use
    (tests/log_check.py)."""
    from tests.log_check import leaks, phones_in_tests

    factory = getattr(session.config, "_tmp_path_factory", None)  # where every tmp_path of this run lives
    found = leaks(factory.getbasetemp(), phones_in_tests(REPO / "tests")) if factory is not None else []
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"PII in the logs of this run ({len(found)} lines):", red=True)
            for line in found[:50]:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
