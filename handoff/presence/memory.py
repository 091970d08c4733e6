"""Presence in this process (the embedded default: one handoff service). Lost on restart, which costs
nothing: agents' pages beat every 20 s and set their switch again."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from handoff.presence import Presence


class MemoryPresence:
    def __init__(self, ttl_seconds: float = 60.0) -> None:
        self.ttl = ttl_seconds
        self._beats: dict[tuple[str, int], float] = {}
        self._busy: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], ttl_seconds: float) -> MemoryPresence:
        return cls(ttl_seconds)

    def heartbeat(self, tenant_id: str, agent_id: int, now: float) -> None:
        with self._lock:
            key = (tenant_id, agent_id)
            self._beats[key] = max(now, self._beats.get(key, 0.0))

    def set_available(self, tenant_id: str, agent_id: int, available: bool) -> None:
        with self._lock:
            (self._busy.discard if available else self._busy.add)((tenant_id, agent_id))

    def get(self, tenant_id: str, agent_ids: Iterable[int], now: float) -> dict[int, Presence]:
        with self._lock:
            out = {}
            for a in agent_ids:
                beat = self._beats.get((tenant_id, a), 0.0)
                out[a] = Presence(beat > now - self.ttl, (tenant_id, a) not in self._busy, beat)
            return out

    def online(self, tenant_id: str, now: float) -> set[int]:
        with self._lock:
            return {a for (t, a), beat in self._beats.items() if t == tenant_id and beat > now - self.ttl}

    def forget(self, tenant_id: str, agent_id: int) -> None:
        with self._lock:
            self._beats.pop((tenant_id, agent_id), None)

    def close(self) -> None:
        pass
