"""The Redis-held parts of a customer (the machine's real Redis): trackers written by Rasa's own RedisTrackerStore
(in the Rasa venv, so the key layout is Rasa's), rate-limit buckets named after the conversation, and the
handoff's live-session keys. Erase takes the customer's and leaves another's; the purge finds quiet trackers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.privacy.service import Actor
from bot.privacy.subject import subject_of
from bot.rasa_env import tracker_store_config
from bot.ratelimit import Rate, create_rate_limiter
from bot.settings import load_settings
from handoff.live import LiveSession, create_live
from handoff.privacy import build_service

from ..conftest import REPO
from .world import PHONE, make_world

RASA_PYTHON = REPO / ".venv-rasa" / "bin" / "python"
SAVE = """
import asyncio, json, sys
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from channels.redis_tracker_store import SealedRedisTrackerStore

conf, chats = json.loads(sys.argv[1]), json.loads(sys.argv[2])
options = dict(host=conf["url"], port=conf["port"], db=conf["db"], key_prefix=conf["key_prefix"])
sealed, plain = SealedRedisTrackerStore(Domain.empty(), **options), RedisTrackerStore(Domain.empty(), **options)
for conv, at in chats:
    store = plain if conv == "u1001" else sealed  # the visitor's written before sealing was configured
    t = DialogueStateTracker(conv, [])
    t.update(UserUttered("我的电话 %s" % conf["phone"], timestamp=at))
    t.update(BotUttered("好的，已记下", timestamp=at + 1))
    asyncio.run(store.save(t))
"""


@pytest.fixture
def privacy_redis() -> Iterator[int]:
    """A Redis database of its own (the shared fixture's is flushed by other tests that may run at the same time)."""
    db = 13
    client = redis.Redis(host="127.0.0.1", port=6379, db=db)
    client.flushdb()
    yield db
    client.flushdb()
    client.close()


def test_redis_trackers_buckets_and_live_keys(env: dict[str, str], privacy_redis: int) -> None:
    from bot.ids import configure

    configure(11)
    url = f"redis://127.0.0.1:6379/{privacy_redis}"
    settings = load_settings({**env, "CSBOT_TRACKER_STORE__TYPE": "redis", "CSBOT_TRACKER_STORE__URL": url,
                              "CSBOT_RATE_LIMIT__TYPE": "redis", "CSBOT_RATE_LIMIT__URL": url,
                              "CSBOT_PRESENCE__TYPE": "redis", "CSBOT_PRESENCE__URL": url})  # fmt: skip
    now = time.time()
    chats = [("default:u1001", now), ("u1001", now), ("default:u2002", now), ("acme:u1001", now),
             ("default:u3003", now - 40 * 86400)]  # fmt: skip
    conf = {**tracker_store_config(settings), "phone": PHONE}
    subprocess.run([str(RASA_PYTHON), "-c", SAVE, json.dumps(conf), json.dumps(chats)], check=True, timeout=300,
                   cwd=Path(REPO), capture_output=True, env={**env, "PYTHONPATH": str(REPO)})  # fmt: skip
    r = redis.Redis.from_url(url, decode_responses=True)
    assert len(r.keys("csbot:tracker:*")) == 5
    assert str(r.get("csbot:tracker:default:u1001")).startswith("enc:v1:")
    assert PHONE in str(r.get("csbot:tracker:u1001"))  # the plain one

    async def chatted() -> None:  # what the gateway's per-conversation limit leaves in Redis
        limiter = create_rate_limiter(settings.backend("rate_limit"))
        for conv in ("default:u1001", "default:u2002"):
            await limiter.hit(f"conv:{conv}", Rate.parse("1/h"))  # a bucket that stays an hour
        await limiter.close()

    asyncio.run(chatted())
    live = create_live(settings.backend("presence"))
    w = make_world(settings)
    try:
        me = w.customer("default", "u1001")
        w.customer("default", "u2002")
        live.open(LiveSession(me.session_id, "default", me.conversation, "closed", None, None, now))  # left stale
        svc = build_service(settings, db=w.db)
        try:
            data = svc.export(subject_of("u1001", None, "default"), Actor("cli"))
            assert data is not None and PHONE in json.dumps(data["stores"]["trackers"], ensure_ascii=False)
            assert {e["conversation_id"] for e in data["stores"]["trackers"]} == {"default:u1001", "u1001"}
            report = svc.erase(subject_of("u1001", None, "default"), Actor("cli"))
            assert report.complete and report.removed["trackers"] >= 4 and report.removed["rate_limits"] == 1
            assert live.get(me.session_id) is None and live.lookup("default", me.conversation).session_id is None
            assert sorted(k.removeprefix("csbot:tracker:") for k in r.keys("csbot:tracker:*")) == [
                "acme:u1001", "default:u2002", "default:u3003"]  # fmt: skip
            assert [k for k in r.keys("csbot:rl:*") if "u1001" in k] == []
            assert [k for k in r.keys("csbot:rl:*") if "u2002" in k] != []

            purged = svc.purge(30, Actor("cli"))
            assert purged.conversations == {"default": 1} and "default:u3003" not in {
                k.removeprefix("csbot:tracker:") for k in r.keys("csbot:tracker:*")}  # fmt: skip
        finally:
            svc.close()
    finally:
        live.close()
        r.close()
        w.close()
        w.db.dispose()
