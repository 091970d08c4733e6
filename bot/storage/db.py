"""Engine and session helpers. One ``Database`` per process, created from settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConfigError


def make_engine(url: str, echo: bool = False) -> Engine:
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=True, pool_recycle=3600)
    try:
        engine = create_engine(url, **kwargs)
    except Exception as exc:  # bad dialect / driver name
        raise ConfigError("database.url", "a SQLAlchemy URL with an installed driver", str(exc)) from None
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL + busy timeout: the action server, handoff service and CLI share one file.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed transaction survives any process crash (only an OS crash or power
            # loss can take the last ones); FULL would fsync on every commit of every chat message
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


class Database:
    def __init__(self, url: str, echo: bool = False, cipher: Any = None) -> None:
        """``cipher`` (``bot.crypto.Cipher``): what the sessions seal columns at rest with (``bot.storage.sealed``);
        without one (a Database built from a bare URL) they are written plain."""
        from bot.crypto import INFO_KEY

        self.url = url
        self.engine = make_engine(url, echo)
        self.cipher = cipher
        self._factory = sessionmaker(self.engine, expire_on_commit=False, info={INFO_KEY: cipher} if cipher else None)

    @classmethod
    def from_settings(cls, settings: Any) -> Database:
        from bot.crypto import cipher_from_settings

        if settings.database_url.startswith("sqlite:///"):
            from pathlib import Path

            Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url, settings.database_echo, cipher_from_settings(settings))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error (no half-written records)."""
        s = self._factory()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()


# MySQL/MariaDB: deadlock (1213) and lock wait timeout (1205); SQLite: a writer held the file too long
_TRANSIENT_CODES = (1213, 1205)


def is_transient(exc: BaseException) -> bool:
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.orig, "args", (None,))[0]
    return code in _TRANSIENT_CODES or "database is locked" in str(exc.orig)


def retry_transient(fn: Any) -> Any:
    """Run a unit of work again when the database aborted it to break a deadlock: it rolled back, so the
    whole function (its reads, its decisions, its effects) starts over. Six tries with a jittered, doubling
    pause (5 ms … 160 ms: a storm of claims on one queue can deadlock a few times in a row), then it stands."""
    import functools
    import random
    import time

    tries = 6

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(tries):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if attempt == tries - 1 or not is_transient(exc):
                    raise
                time.sleep(random.uniform(0.005, 0.01) * 2**attempt)
        raise AssertionError("unreachable")

    return wrapper
