"""What the action server uses to reach the handoff service (HTTP, a service token per tenant that renews).
Light: no handoff imports beyond plain values."""

from __future__ import annotations

from typing import Any

import httpx

from bot.http_retry import once_more
from bot.settings import Settings
from bot.tokens import ServiceTokens
from bot.tracing import httpx_hooks


class HandoffClient:
    def __init__(self, base_url: str, tokens: ServiceTokens, timeout: float = 10.0) -> None:
        self.tokens = tokens
        # generous: a request writes a session and makes offers, which takes seconds on a busy database, and a
        # customer who waits a little longer beats one told "unreachable" whose session was in fact created
        # the caller's trace and request id travel with every call (bot.tracing)
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout, connect=2.0),
                                         event_hooks=httpx_hooks())

    @classmethod
    def from_settings(cls, settings: Settings) -> HandoffClient:
        return cls(settings.services.url("handoff"),
                   ServiceTokens(settings.keyring, "actions", settings.service_token_seconds))  # fmt: skip

    async def _post(self, path: str, tenant_id: str, body: dict[str, Any], idempotent: bool = True) -> dict[str, Any]:
        async def call() -> httpx.Response:
            return await self._client.post(path, json=body, headers=self.tokens.headers(tenant_id))

        resp = await once_more(call, idempotent)
        if resp.status_code == 401:  # keys rotated under us: mint again, once
            self.tokens.forget(tenant_id)
            resp = await once_more(call, idempotent)
        resp.raise_for_status()
        return dict(resp.json())

    async def request(self, tenant_id: str, conversation_id: str, channel: str, customer: dict[str, Any],
                      intent: str | None, text: str) -> dict[str, Any]:  # fmt: skip
        return await self._post("/internal/handoff", tenant_id, {
            "conversation_id": conversation_id, "channel": channel, "customer": customer, "intent": intent,
            "text": text[:500]})  # fmt: skip

    async def leave_message(self, tenant_id: str, conversation_id: str, customer_id: str, text: str,
                            reason: str = "") -> str:  # fmt: skip
        body = {"conversation_id": conversation_id, "customer_id": customer_id, "text": text}
        if reason:
            body["reason"] = reason
        # not repeated once it may have got in: a second left message would make a second ticket
        return str((await self._post("/internal/left-messages", tenant_id, body, idempotent=False))["id"])

    async def csat(self, tenant_id: str, conversation_id: str, score: int) -> bool:
        body = {"conversation_id": conversation_id, "score": score}
        return bool((await self._post("/internal/csat", tenant_id, body))["recorded"])
