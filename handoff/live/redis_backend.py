"""Live sessions in Redis (several handoff instances): ``{prefix}:session:{id}`` a hash (tenant, conversation,
state, agent, queue_pos, last_msg_ts) and ``{prefix}:conv:{tenant}:{conversation}`` → the id, both with a 2 h
TTL renewed on every write; ``{prefix}:warm`` holds the run id of the Redis server whose keys were rebuilt
from the database. "None" answers are trusted only while that run id is the server's, checked on every new
connection: a flush takes the marker with it, and a restart — even one that reloads an older snapshot, marker
included — changes the run id, so lookups say "ask the database" until ``maintain`` (each clock tick) rebuilds.
Run Redis with ``maxmemory-policy noeviction`` (its default): an evicted index key would make "none" wrong."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from bot.errors import ConfigError
from handoff.live import TTL_SECONDS, LiveSession, Lookup

# delete the conversation's index entry only if it still names this session (a newer one may have replaced it)
_DROP = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_FIELDS = ("state", "agent_id", "queue_pos", "last_msg_ts")
# set fields of the sessions still present (a closed one is not brought back as a partial hash), renew the TTL
_UPDATE = """
for i, key in ipairs(KEYS) do
  if redis.call('exists', key) == 1 then
    redis.call('hset', key, unpack(cjson.decode(ARGV[i + 1])))
    redis.call('expire', key, ARGV[1])
  end
end
return 0"""


class RedisLiveSessions:
    def __init__(self, url: str, key_prefix: str = "csbot:live") -> None:
        self.prefix = key_prefix
        self._verified: str | None = None  # the run id whose rebuild this process has seen; None: check first
        self._r = redis.Redis.from_url(url, socket_timeout=2.0, decode_responses=True,
                                       redis_connect_func=self._on_connect)  # fmt: skip
        self._drop = self._r.register_script(_DROP)
        self._update = self._r.register_script(_UPDATE)

    def _on_connect(self, conn: Any) -> None:
        conn.on_connect()
        self._verified = None  # a new connection may be to a restarted server

    def _run_id(self) -> str:
        return str(self._r.info("server")["run_id"])

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RedisLiveSessions:
        url = options.get("url")
        if not url:
            raise ConfigError("presence.url", "a Redis URL such as redis://127.0.0.1:6379/0")
        # beside presence's keys: deployments that share a Redis under different prefixes stay apart
        return cls(str(url), str(options.get("live_key_prefix") or f"{options.get('key_prefix') or 'csbot'}:live"))

    def _s(self, session_id: int) -> str:
        return f"{self.prefix}:session:{session_id}"

    def _c(self, tenant_id: str, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{tenant_id}:{conversation_id}"

    def _put(self, pipe: Any, s: LiveSession) -> None:
        pipe.hset(self._s(s.session_id), mapping={
            "tenant": s.tenant_id, "conversation": s.conversation_id, "state": s.state,
            "agent_id": "" if s.agent_id is None else str(s.agent_id),
            "queue_pos": "" if s.queue_pos is None else str(s.queue_pos),
            "last_msg_ts": repr(s.last_msg_ts)})  # fmt: skip
        pipe.expire(self._s(s.session_id), TTL_SECONDS)
        pipe.set(self._c(s.tenant_id, s.conversation_id), str(s.session_id), ex=TTL_SECONDS)

    def open(self, s: LiveSession) -> None:
        pipe = self._r.pipeline()
        self._put(pipe, s)
        pipe.execute()

    def update(self, changes: Mapping[int, Mapping[str, Any]]) -> None:
        keys, args = [], []
        for session_id, fields in changes.items():
            values = [x for k, v in fields.items() if k in _FIELDS
                      for x in (k, "" if v is None else repr(v) if isinstance(v, float) else str(v))]  # fmt: skip
            if values:
                keys.append(self._s(session_id))
                args.append(json.dumps(values))
        if keys:
            self._update(keys=keys, args=[TTL_SECONDS, *args])

    def closed(self, tenant_id: str, conversation_id: str, session_id: int) -> None:
        self._r.delete(self._s(session_id))
        self._drop(keys=[self._c(tenant_id, conversation_id)], args=[str(session_id)])

    def lookup(self, tenant_id: str, conversation_id: str) -> Lookup:
        try:
            pipe = self._r.pipeline()
            pipe.get(self._c(tenant_id, conversation_id))
            pipe.get(f"{self.prefix}:warm")
            found, warm = pipe.execute()
        except redis.RedisError:  # away: the database answers
            return Lookup(False)
        if found:
            return Lookup(True, int(found))
        return Lookup(warm is not None and warm == self._verified)

    def get(self, session_id: int) -> LiveSession | None:
        h = self._r.hgetall(self._s(session_id))
        if not h:
            return None
        def number(key: str) -> int | None:
            return int(h[key]) if h.get(key) else None

        return LiveSession(session_id, h["tenant"], h["conversation"], h["state"], number("agent_id"),
                           number("queue_pos"), float(h.get("last_msg_ts") or 0.0))

    def warm(self, sessions: Iterable[LiveSession]) -> None:
        run_id = self._run_id()
        pipe = self._r.pipeline(transaction=False)
        for n, s in enumerate(sessions, 1):
            self._put(pipe, s)
            if n % 500 == 0:
                pipe.execute()
        pipe.set(f"{self.prefix}:warm", run_id)
        pipe.execute()
        self._verified = run_id

    def is_warm(self) -> bool:
        """Whether "none" answers can be trusted now (checks the server's run id when a connection is new)."""
        try:
            if self._verified is None:
                run_id = self._run_id()
                if self._r.get(f"{self.prefix}:warm") == run_id:
                    self._verified = run_id
            return self._verified is not None and self._r.get(f"{self.prefix}:warm") == self._verified
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._r.close()
