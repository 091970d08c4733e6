"""Presence in Redis (several handoff instances): a sorted set per tenant scored by the last heartbeat, and
a set of agents who switched themselves to busy. Scores come from the callers' clocks, as Chatwoot's do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis

from bot.errors import ConfigError
from handoff.presence import Presence


class RedisPresence:
    def __init__(self, url: str, ttl_seconds: float = 60.0, key_prefix: str = "csbot:presence") -> None:
        self.ttl = ttl_seconds
        self.prefix = key_prefix
        self._r = redis.Redis.from_url(url, socket_timeout=2.0, decode_responses=True)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], ttl_seconds: float) -> RedisPresence:
        url = options.get("url")
        if not url:
            raise ConfigError("presence.url", "a Redis URL such as redis://127.0.0.1:6379/0")
        return cls(str(url), ttl_seconds, str(options.get("key_prefix") or "csbot:presence"))

    def _beats(self, tenant_id: str) -> str:
        return f"{self.prefix}:{tenant_id}:beats"

    def _busy(self, tenant_id: str) -> str:
        return f"{self.prefix}:{tenant_id}:busy"

    def heartbeat(self, tenant_id: str, agent_id: int, now: float) -> None:
        pipe = self._r.pipeline()
        pipe.zadd(self._beats(tenant_id), {str(agent_id): now}, gt=True)
        pipe.zremrangebyscore(self._beats(tenant_id), "-inf", now - 24 * 3600)  # agents gone for a day
        pipe.execute()

    def set_available(self, tenant_id: str, agent_id: int, available: bool) -> None:
        if available:
            self._r.srem(self._busy(tenant_id), str(agent_id))
        else:
            self._r.sadd(self._busy(tenant_id), str(agent_id))

    def get(self, tenant_id: str, agent_ids: Iterable[int], now: float) -> dict[int, Presence]:
        ids = [str(a) for a in agent_ids]
        if not ids:
            return {}
        pipe = self._r.pipeline()
        pipe.zmscore(self._beats(tenant_id), ids)
        pipe.smismember(self._busy(tenant_id), ids)
        beats, busy = pipe.execute()
        return {int(a): Presence((b or 0.0) > now - self.ttl, not bool(x), float(b or 0.0))
                for a, b, x in zip(ids, beats, busy, strict=True)}  # fmt: skip

    def online(self, tenant_id: str, now: float) -> set[int]:
        return {int(a) for a in self._r.zrangebyscore(self._beats(tenant_id), f"({now - self.ttl}", "+inf")}

    def forget(self, tenant_id: str, agent_id: int) -> None:
        self._r.zrem(self._beats(tenant_id), str(agent_id))

    def close(self) -> None:
        self._r.close()
