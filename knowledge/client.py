"""What the action server uses to ask the knowledge service (HTTP, service token). Light: no KB imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.http_retry import once_more
from bot.settings import Settings
from bot.tokens import ServiceTokens
from bot.tracing import httpx_hooks


@dataclass(frozen=True)
class CitationView:
    id: str
    title: str
    snippet: str = ""


@dataclass(frozen=True)
class AnswerView:
    text: str
    abstained: bool
    confidence: float
    source: str
    citations: list[CitationView] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    sure: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AnswerView:
        cites = [CitationView(str(c.get("id", "")), str(c.get("title", "")), str(c.get("snippet", "")))
                 for c in d.get("citations") or []]  # fmt: skip
        return cls(str(d.get("text", "")), bool(d.get("abstained", True)), float(d.get("confidence", 0.0)),
                   str(d.get("source", "")), cites, [str(x) for x in d.get("suggestions") or []][:3],
                   bool(d.get("sure")) and not bool(d.get("abstained", True)))  # fmt: skip


class KnowledgeClient:
    """Asks the knowledge service as the action server: a service token per tenant, renewed before it
    expires (and once more if the service refuses it, e.g. after a key rotation)."""

    def __init__(self, base_url: str, tokens: ServiceTokens, timeout: float = 5.0) -> None:
        self.tokens = tokens
        # the caller's trace and request id travel with every call (bot.tracing)
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, event_hooks=httpx_hooks())

    @classmethod
    def from_settings(cls, settings: Settings, caller: str = "actions", timeout: float = 5.0) -> KnowledgeClient:
        tokens = ServiceTokens(settings.keyring, caller, settings.service_token_seconds)
        return cls(settings.services.url("knowledge"), tokens, timeout)

    async def _post(self, path: str, body: dict[str, Any], tenant_id: str) -> Any:
        async def call() -> httpx.Response:  # answers and assists are safe to ask twice
            return await self._client.post(path, json=body, headers=self.tokens.headers(tenant_id))

        resp = await once_more(call)
        if resp.status_code == 401:
            self.tokens.forget(tenant_id)
            resp = await once_more(call)
        resp.raise_for_status()
        return resp.json()

    async def answer(self, query: str, tenant_id: str, conversation_id: str | None = None) -> AnswerView:
        body = {"query": query, "conversation_id": conversation_id}
        return AnswerView.from_json(await self._post("/answer", body, tenant_id))

    async def assist(self, query: str, tenant_id: str, conversation: list[dict[str, str]]) -> dict[str, Any]:
        """Agent assist: ``{"answers": [{id, title, text, kind, score}], "sure", "summary": str | None}``."""
        out = await self._post("/assist", {"query": query, "conversation": conversation}, tenant_id)
        return out if isinstance(out, dict) else {}

    async def aclose(self) -> None:
        await self._client.aclose()
