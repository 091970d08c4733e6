"""Live sessions in this process (the embedded default: one handoff service). Rebuilt from the database at
every start, so a restart loses nothing. ``trust_none=False`` (the database is shared, so another instance
may open sessions this one never sees): only hints, every "none" asks the database."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from handoff.live import LiveSession, Lookup


class MemoryLiveSessions:
    def __init__(self, trust_none: bool = True) -> None:
        self.trust_none = trust_none
        self._by_id: dict[int, LiveSession] = {}
        self._by_conv: dict[tuple[str, str], int] = {}
        self._warm = False
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> MemoryLiveSessions:
        return cls()

    def open(self, s: LiveSession) -> None:
        with self._lock:
            self._by_id[s.session_id] = s
            self._by_conv[(s.tenant_id, s.conversation_id)] = s.session_id

    def update(self, changes: Mapping[int, Mapping[str, Any]]) -> None:
        with self._lock:
            for session_id, fields in changes.items():
                s = self._by_id.get(session_id)
                if s is not None:
                    self._by_id[session_id] = dataclasses.replace(s, **fields)

    def closed(self, tenant_id: str, conversation_id: str, session_id: int) -> None:
        with self._lock:
            self._by_id.pop(session_id, None)
            if self._by_conv.get((tenant_id, conversation_id)) == session_id:
                del self._by_conv[(tenant_id, conversation_id)]

    def lookup(self, tenant_id: str, conversation_id: str) -> Lookup:
        with self._lock:
            return Lookup(self._warm, self._by_conv.get((tenant_id, conversation_id)))

    def get(self, session_id: int) -> LiveSession | None:
        with self._lock:
            return self._by_id.get(session_id)

    def warm(self, sessions: Iterable[LiveSession]) -> None:
        for s in sessions:
            self.open(s)
        self._warm = self.trust_none

    def is_warm(self) -> bool:
        return self._warm or not self.trust_none  # an untrusting store has nothing to rebuild for

    def close(self) -> None:
        pass
