"""What the action server uses to ask the knowledge service (HTTP, service token). Light: no KB imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.security import service_token
from bot.settings import Settings


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
    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    @classmethod
    def from_settings(cls, settings: Settings) -> KnowledgeClient:
        token = service_token(settings.jwt_secret, settings.default_tenant, "actions", settings.jwt_issuer)
        return cls(settings.services.url("knowledge"), token)

    async def answer(self, query: str, tenant_id: str, conversation_id: str | None = None) -> AnswerView:
        resp = await self._client.post("/answer", json={"query": query, "tenant_id": tenant_id,
                                                        "conversation_id": conversation_id})  # fmt: skip
        resp.raise_for_status()
        return AnswerView.from_json(resp.json())
