"""Live session state (handoff.live): one contract for every backend (in process, and the machine's real
Redis), then the service's use of it — a "no session" answer never loses a customer's message."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import event

from bot.settings import Settings
from bot.storage.db import Database
from handoff import repository as repo
from handoff.assignment import accept, assign_pass
from handoff.live import LiveSession, LiveSessions
from handoff.live.memory import MemoryLiveSessions
from handoff.live.redis_backend import RedisLiveSessions
from tests.handoff.conftest import Desk, make_desk

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[LiveSessions]:
    if request.param == "memory":
        yield MemoryLiveSessions()
        return
    prefix = f"test:live:{uuid.uuid4().hex[:8]}"
    s = RedisLiveSessions(REDIS, prefix)
    yield s
    r = redis.Redis.from_url(REDIS)
    for key in r.scan_iter(f"{prefix}:*"):
        r.delete(key)
    s.close()


def live(session_id: int, conv: str = "c1", tenant: str = "default", state: str = "waiting") -> LiveSession:
    return LiveSession(session_id, tenant, conv, state, None, 3, 100.0)


def test_a_cold_store_cannot_say_no(store: LiveSessions) -> None:
    assert not store.lookup("default", "c1").known
    store.open(live(1))
    assert store.lookup("default", "c1").session_id == 1  # a hint it can give; a "no" it cannot
    assert not store.lookup("default", "c2").known


def test_warm_store_answers_none_and_hints(store: LiveSessions) -> None:
    store.warm([live(1, "c1"), live(2, "c2", tenant="t2")])
    assert store.is_warm()
    assert store.lookup("default", "c1") == type(store.lookup("default", "c1"))(True, 1)
    assert store.lookup("t2", "c2").session_id == 2
    assert store.lookup("default", "c2").known and store.lookup("default", "c2").session_id is None  # tenant
    assert store.lookup("default", "nobody").known


def test_fields_update_and_close(store: LiveSessions) -> None:
    store.warm([])
    store.open(live(7))
    store.update({7: {"state": "active", "agent_id": 42, "last_msg_ts": 123.5}})
    got = store.get(7)
    assert got is not None and (got.state, got.agent_id, got.queue_pos, got.last_msg_ts) == ("active", 42, 3, 123.5)
    store.update({7: {"queue_pos": None}, 8: {"queue_pos": 2}})  # 8 was never there: not created
    assert store.get(7).queue_pos is None and store.get(8) is None  # type: ignore[union-attr]
    store.closed("default", "c1", 7)
    assert store.get(7) is None
    assert store.lookup("default", "c1").known and store.lookup("default", "c1").session_id is None
    store.update({7: {"state": "active"}})  # an update after the close does not bring it back
    assert store.get(7) is None


def test_closing_an_old_session_keeps_the_newer_one(store: LiveSessions) -> None:
    store.warm([live(1)])
    store.open(live(2))  # the same conversation asked again (the old close's removal came late)
    store.closed("default", "c1", 1)
    assert store.lookup("default", "c1").session_id == 2


def test_redis_flushed_or_reloaded_is_not_trusted_until_rebuilt() -> None:
    prefix = f"test:live:{uuid.uuid4().hex[:8]}"
    s, r = RedisLiveSessions(REDIS, prefix), redis.Redis.from_url(REDIS, decode_responses=True)
    try:
        s.warm([live(1)])
        assert s.lookup("default", "c9").known
        # a restart that reloads an older snapshot: the marker holds another server run's id
        r.set(f"{prefix}:warm", "an-earlier-run")
        s._r.connection_pool.disconnect()  # the restart broke the connections; the next one is new
        assert not s.lookup("default", "c9").known
        assert not s.is_warm()
        s.warm([live(1)])
        assert s.lookup("default", "c9").known
        r.delete(f"{prefix}:warm")  # a flush takes the marker with it
        assert not s.lookup("default", "c9").known
        # another instance's store sees the same keys once it has checked the run id
        other = RedisLiveSessions(REDIS, prefix)
        s.warm([live(1)])
        assert not other.lookup("default", "c9").known  # not checked yet
        assert other.is_warm() and other.lookup("default", "c9").known and other.lookup("default", "c1").session_id == 1
        other.close()
    finally:
        for key in r.scan_iter(f"{prefix}:*"):
            r.delete(key)
        s.close()


def test_redis_away_means_ask_the_database() -> None:
    s = RedisLiveSessions("redis://127.0.0.1:1/0")
    assert not s.lookup("default", "c1").known
    assert not s.is_warm()
    with pytest.raises(redis.RedisError):
        s.open(live(1))  # the caller's transaction aborts: nothing opened that the index does not know


# --- the service --------------------------------------------------------------------------------------
def count_queries(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_bot_only_conversation_costs_no_query(desk: Desk) -> None:
    queries = count_queries(desk.svc.db)
    assert desk.svc.customer_said("default", "just-shopping", "这个有货吗", "ask_question") is False
    assert not [q for q in queries if "cs_session" in q]


def test_every_line_of_an_open_session_reaches_the_agent_also_after_a_restart(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        first = make_desk(db)
        agent = first.agent("a1")
        ticket = first.ask("c1")
        assert first.svc.live.get(ticket.session_id).state == "waiting"  # type: ignore[union-attr]
        assert first.svc.customer_said("default", "c1", "在吗", None)
        # a new process: its in-process store starts empty and is rebuilt from the database
        second = make_desk(db)
        assert second.svc.live.lookup("default", "c1").session_id == ticket.session_id
        assert second.svc.customer_said("default", "c1", "还在吗", None)
        hot = second.svc.live.get(ticket.session_id)
        assert hot is not None and hot.last_msg_ts == second.clock()
        second.svc.presence.heartbeat("default", agent.user_id, second.clock())
        assign_pass(second.svc, "default")
        with db.session() as s:
            pending = repo.pending_offer(s, ticket.session_id)
        assert pending is not None
        accept(second.svc, agent, pending.offer_id)
        got = second.svc.live.get(ticket.session_id)
        assert got is not None and (got.state, got.agent_id) == ("active", agent.user_id)
        second.svc.close(agent, ticket.session_id, "好了")
        assert second.svc.live.get(ticket.session_id) is None
        assert second.svc.customer_said("default", "c1", "谢谢", None) is False
    finally:
        db.dispose()


def test_the_store_away_when_asked_opens_nothing(desk: Desk) -> None:
    desk.agent("a1")
    desk.svc.live = RedisLiveSessions("redis://127.0.0.1:1/0")
    with pytest.raises(redis.RedisError):
        desk.ask("c1")
    from sqlalchemy import func, select

    from bot.storage.models import Session

    with desk.svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Session)) == 0
    assert desk.svc.customer_said("default", "c1", "在吗", None) is False  # asks the database: none


def test_an_in_process_store_beside_a_shared_database_never_says_none() -> None:
    store = MemoryLiveSessions(trust_none=False)  # what the app picks for presence: memory on MySQL
    store.warm([live(1)])
    assert store.lookup("default", "c1").session_id == 1
    assert not store.lookup("default", "c2").known  # another instance may have opened it: ask the database
