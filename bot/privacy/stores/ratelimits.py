"""Rate-limit buckets named after a conversation (``conv:<id>``, ``poll:<id>``, ``channels.gateway``) when they
live in Redis (``rate_limit.type: redis``). They hold a timestamp, not what was said, and expire within
seconds; erasing removes the names. The in-process limiter's buckets expire the same way in their process."""

from __future__ import annotations

from typing import Any

from bot.privacy.base import Store
from bot.privacy.subject import Subject
from bot.ratelimit import storage_key


class RateLimitKeys(Store):
    name = "rate_limits"

    def __init__(self, client: Any, prefix: str) -> None:
        self.r, self.prefix = client, prefix

    @classmethod
    def from_options(cls, options: Any) -> RateLimitKeys:
        import redis

        return cls(redis.Redis.from_url(str(options["url"]), socket_timeout=5.0),
                   str(options.get("key_prefix") or "csbot:rl"))  # fmt: skip

    def _keys(self, subject: Subject) -> list[str]:
        names = [f"{kind}:{c}" for c in sorted(subject.owned()) for kind in ("conv", "poll")]
        return [f"{self.prefix}:{storage_key(n)}" for n in names]

    def count(self, subject: Subject) -> int:
        keys = self._keys(subject)
        return int(self.r.exists(*keys)) if keys else 0

    def erase(self, subject: Subject) -> int:
        keys = self._keys(subject)
        return int(self.r.delete(*keys)) if keys else 0

    def close(self) -> None:
        self.r.close()
