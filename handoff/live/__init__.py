"""Live session state (seed §2.4.5: ``hash session:{id}`` with agent, queuePos, lastMsgTs; TTL 2 h) and an index
from a conversation to its open session.

The relational store stays the record; this is what answers the hot question cheaply: every customer message
of every conversation reaches the handoff service (the Rasa event broker posts them all), and almost none has
a handoff open. ``lookup`` answers "no session" without a database query once the store is *warm* (rebuilt
from the database's open sessions at start and after Redis lost its keys); a session id it returns is a hint
the caller checks in the database. So that a "no" is never wrong, an index entry is written *before* the
transaction that opens the session commits (a failure aborts it) and removed only *after* the one that closes
it; a stale entry costs one query. One module per backend, chosen with presence (``presence.type``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bot.errors import ConfigError
from bot.settings import Backend

TTL_SECONDS = 2 * 3600
REWARM_SECONDS = 600.0  # the clock re-puts every open session this often, so no key outlives its TTL


@dataclass(frozen=True)
class LiveSession:
    session_id: int
    tenant_id: str
    conversation_id: str
    state: str
    agent_id: int | None
    queue_pos: int | None
    last_msg_ts: float


@dataclass(frozen=True)
class Lookup:
    known: bool  # False: the store cannot tell (cold, or away) — ask the database
    session_id: int | None = None  # with known: the open session to check in the database, or None: none open


@runtime_checkable
class LiveSessions(Protocol):
    def open(self, s: LiveSession) -> None:
        """Before the opening transaction commits; raises when the store is away (the transaction aborts)."""
        ...

    def update(self, changes: Mapping[int, Mapping[str, Any]]) -> None:
        """state / agent_id / queue_pos / last_msg_ts of sessions still in the store, after a commit (one round
        trip for a whole queue's new positions)."""
        ...

    def closed(self, tenant_id: str, conversation_id: str, session_id: int) -> None: ...

    def lookup(self, tenant_id: str, conversation_id: str) -> Lookup: ...

    def get(self, session_id: int) -> LiveSession | None: ...

    def warm(self, sessions: Iterable[LiveSession]) -> None:
        """Put every open session, then trust "none" answers."""
        ...

    def is_warm(self) -> bool: ...

    def close(self) -> None: ...


BUILTIN = {"memory": "handoff.live.memory.MemoryLiveSessions", "redis": "handoff.live.redis_backend.RedisLiveSessions"}


def create_live(backend: Backend) -> LiveSessions:
    """Chosen with presence: several instances that share presence in Redis share live sessions there too."""
    from bot.plugins import load_class

    cls = load_class(BUILTIN.get(backend.type, backend.type), "presence.type")
    options: Mapping[str, Any] = dict(backend.options)
    store = cls.from_options(options) if hasattr(cls, "from_options") else None
    if not isinstance(store, LiveSessions):  # a plugged-in presence class brings no live store: in process
        from handoff.live.memory import MemoryLiveSessions

        if backend.type in BUILTIN:
            raise ConfigError("presence.type", "a class implementing handoff.live.LiveSessions", backend.type)
        return MemoryLiveSessions()
    return store
