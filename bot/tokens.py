"""Service tokens that renew themselves: one per tenant, re-minted well before they expire.

A process that calls another platform service (the action server asking the knowledge service, the CLI
asking a running service) holds one ``ServiceTokens`` for its whole life. A token minted once and cached
with its client stops working when it expires, and every call after that gets a 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.security import Keyring, service_token

RENEW_AT = 0.5  # re-mint once half the lifetime has passed: clocks may differ, calls may be slow


class ServiceTokens:
    def __init__(self, keys: Keyring, name: str, ttl_seconds: float = 3600,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.keys, self.name, self.ttl, self._clock = keys, name, ttl_seconds, clock
        self._tokens: dict[str, tuple[str, float]] = {}  # tenant → (token, renew after)
        self._lock = threading.Lock()

    def token(self, tenant_id: str) -> str:
        now = self._clock()
        with self._lock:
            held = self._tokens.get(tenant_id)
            if held is None or now >= held[1]:
                held = (service_token(self.keys, tenant_id, self.name, self.ttl), now + self.ttl * RENEW_AT)
                self._tokens[tenant_id] = held
            return held[0]

    def headers(self, tenant_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant_id)}"}

    def forget(self, tenant_id: str) -> None:
        """Drop a token the callee refused (its keys rotated): the next call mints a new one."""
        with self._lock:
            self._tokens.pop(tenant_id, None)
