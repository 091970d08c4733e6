"""Answer cache: an in-process LRU in front of Redis (seed §2.5.7: Redis LRU + local second level).

Keys include the tenant's KB generation and the live version name, so any import, edit or version switch
makes every old entry unreachable at once (they expire by TTL). A Redis failure never fails an answer: the
cache just misses and the failure is counted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from bot.errors import ConfigError

log = logging.getLogger(__name__)


class LruCache:
    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value = item
            if expires < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class AnswerCache:
    def __init__(self, ttl_seconds: int, lru_size: int, redis_url: str | None = None,
                 prefix: str = "csbot:kb:ans", socket_timeout: float = 0.2) -> None:  # fmt: skip
        self.ttl = ttl_seconds
        self.prefix = prefix
        self.lru = LruCache(lru_size, ttl_seconds)
        self.redis_url = redis_url
        self.socket_timeout = socket_timeout
        self._redis: Any = None
        self.stats = {"lru_hit": 0, "redis_hit": 0, "miss": 0, "redis_error": 0}

    @classmethod
    def from_backend(cls, type_: str, options: Mapping[str, Any], ttl: int, lru_size: int) -> AnswerCache:
        if type_ == "memory":
            return cls(ttl, lru_size)
        if type_ == "redis":
            url = options.get("url") or "redis://127.0.0.1:6379/0"
            return cls(ttl, lru_size, str(url), str(options.get("prefix", "csbot")) + ":kb:ans",
                       float(options.get("socket_timeout", 0.2)))  # fmt: skip
        raise ConfigError("cache.type", "memory or redis", type_)

    @property
    def redis(self) -> Any:
        if self._redis is None and self.redis_url:
            import redis

            self._redis = redis.Redis.from_url(self.redis_url, socket_timeout=self.socket_timeout,
                                               socket_connect_timeout=self.socket_timeout)  # fmt: skip
        return self._redis

    def key(self, tenant_id: str, generation: int, version: str, query: str) -> str:
        digest = hashlib.sha1(query.encode()).hexdigest()
        return f"{self.prefix}:{tenant_id}:{version}:{generation}:{digest}"

    def get(self, key: str) -> dict[str, Any] | None:
        value = self.lru.get(key)
        if value is not None:
            self.stats["lru_hit"] += 1
            return value  # type: ignore[no-any-return]
        if self.redis is not None:
            try:
                raw = self.redis.get(key)
            except Exception as exc:
                self.stats["redis_error"] += 1
                log.warning("answer cache read failed: %s", exc)
                raw = None
            if raw is not None:
                value = json.loads(raw)
                self.lru.put(key, value)
                self.stats["redis_hit"] += 1
                return value  # type: ignore[no-any-return]
        self.stats["miss"] += 1
        return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.lru.put(key, value)
        if self.redis is not None:
            try:
                self.redis.set(key, json.dumps(value, ensure_ascii=False), ex=self.ttl)
            except Exception as exc:
                self.stats["redis_error"] += 1
                log.warning("answer cache write failed: %s", exc)
