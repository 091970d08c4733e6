"""Agent presence: online while any of an agent's devices sent a heartbeat within the TTL (Chatwoot's 60 s),
plus the agent's own availability switch. One module per backend, chosen by ``presence.type``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.errors import ConfigError
from bot.settings import Backend


@dataclass(frozen=True)
class Presence:
    online: bool  # a heartbeat within the TTL
    available: bool  # the agent's own switch (default on)
    last_beat: float  # 0: never

    @property
    def status(self) -> str:
        return "offline" if not self.online else "online" if self.available else "busy"


@runtime_checkable
class PresenceStore(Protocol):
    def heartbeat(self, tenant_id: str, agent_id: int, now: float) -> None: ...

    def set_available(self, tenant_id: str, agent_id: int, available: bool) -> None: ...

    def get(self, tenant_id: str, agent_ids: Iterable[int], now: float) -> dict[int, Presence]: ...

    def online(self, tenant_id: str, now: float) -> set[int]: ...

    def forget(self, tenant_id: str, agent_id: int) -> None:
        """Log-out: offline at once, whatever the last heartbeat."""
        ...

    def close(self) -> None: ...


BUILTIN = {"memory": "handoff.presence.memory.MemoryPresence", "redis": "handoff.presence.redis_backend.RedisPresence"}


def create_presence(backend: Backend, ttl_seconds: float) -> PresenceStore:
    from bot.plugins import load_class

    cls = load_class(BUILTIN.get(backend.type, backend.type), "presence.type")
    store = cls.from_options(dict(backend.options), ttl_seconds)
    if not isinstance(store, PresenceStore):
        raise ConfigError("presence.type", "a class implementing handoff.presence.PresenceStore", backend.type)
    return store
