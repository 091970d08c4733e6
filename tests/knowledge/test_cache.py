"""Answer cache: in-process LRU in front of the machine's real Redis; invalidation by KB generation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.cache import AnswerCache, LruCache
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, write_jsonl


def test_lru_evicts_and_expires() -> None:
    lru = LruCache(size=2, ttl=60)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1
    lru.put("c", 3)  # evicts b, the least recently used
    assert lru.get("b") is None and lru.get("a") == 1 and lru.get("c") == 3
    short = LruCache(size=2, ttl=-1)
    short.put("x", 1)
    assert short.get("x") is None


@pytest.mark.redis
def test_redis_second_level_shared_between_processes(fresh_service: Callable[..., KnowledgeService],
                                                     tmp_path: Path, redis_db: int) -> None:  # fmt: skip
    prefix = f"csbot-test-{uuid.uuid4().hex[:8]}"
    conf = {"cache": {"type": "redis", "url": f"redis://127.0.0.1:6379/{redis_db}", "prefix": prefix},
            "knowledge": {"cache_ttl_seconds": 300}}  # fmt: skip
    home = tmp_path / "home"
    a = fresh_service(conf, home=home)
    a.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "default")
    first = a.answer("我想退货", "default")
    keys = a.cache.redis.keys(f"{prefix}:kb:ans:default:*")
    assert len(keys) == 1 and 290 <= a.cache.redis.ttl(keys[0]) <= 300

    # a second service (another process in production) starts with an empty LRU: served from Redis
    b = fresh_service(conf, home=home)
    second = b.answer("我想退货", "default")
    assert second.cached and second.text == first.text and b.cache.stats["redis_hit"] == 1

    # an import through A bumps the generation: B's next answer is recomputed (after its state poll)
    rows = [dict(r) for r in SMALL_FAQ]
    rows[0]["answer"] = "请在“我的订单”里申请退货。"
    a.import_paths([write_jsonl(tmp_path / "a.jsonl", rows)], "default")
    b.invalidate()  # skip the 1 s state poll interval
    third = b.answer("我想退货", "default")
    assert not third.cached and "我的订单" in third.text


def test_redis_down_is_only_a_miss() -> None:
    cache = AnswerCache(ttl_seconds=300, lru_size=10, redis_url="redis://127.0.0.1:1/0", socket_timeout=0.1)
    assert cache.get("k") is None
    cache.put("k", {"text": "x"})
    assert cache.get("k") == {"text": "x"}  # still served by the LRU
    assert cache.stats["redis_error"] == 2
