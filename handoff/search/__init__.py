"""Message search (issue 14 part 3): a PII-masked copy of the archive, indexed per tenant.

The archiver calls ``index.add([indexed_from(e) ...])`` after each database commit; agents and supervisors
search through ``handoff.search.api`` and the CLI (``csbot messages search``). Backends: tantivy embedded
(``handoff.search.tantivy_backend``), Elasticsearch at scale (``handoff.search.es_backend``), chosen by
``message_search.type`` like every other backend section; a dotted class path plugs in another one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.events.envelope import ROLES, StreamEvent
from bot.plugins import load_class

MAX_LIMIT = 100
BUILTIN = {
    "tantivy": "handoff.search.tantivy_backend.TantivyMessageIndex",
    "elasticsearch": "handoff.search.es_backend.ElasticsearchMessageIndex",
}


@dataclass(frozen=True)
class IndexedMessage:
    """What the index keeps: a PII-masked copy of one archived line (the archive keeps the sealed original)."""

    msg_id: int
    tenant: str
    conversation_id: str
    role: str  # customer | bot | agent
    text: str  # already masked by indexed_from()
    at: float  # epoch seconds
    customer: str | None = None  # the shop's customer ref
    agent_id: int | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Scope:
    """What a plain agent may find: the conversations they handled, plus any line they wrote themselves."""

    conversation_ids: frozenset[str]
    agent_id: int


@dataclass(frozen=True)
class MessageQuery:
    """One search. ``words`` is plain text: query-syntax characters are searched as text, never parsed."""

    words: str = ""
    customer: str | None = None
    agent_id: int | None = None  # lines this agent wrote
    role: str | None = None
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive
    conversation_id: str | None = None
    scope: Scope | None = None  # None: the whole tenant (supervisors, the CLI)
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not 1 <= self.limit <= MAX_LIMIT or not 0 <= self.offset <= 10_000:
            raise ValueError(f"limit must be 1..{MAX_LIMIT} and offset 0..10000")

    @property
    def newest_first(self) -> bool:
        # without words there is nothing to rank by but time: the latest lines first
        return not self.words.strip()


@dataclass(frozen=True)
class MessageHit:
    msg_id: int
    conversation_id: str
    role: str
    snippet: str  # a window of the masked text
    marks: tuple[tuple[int, int], ...]  # [start, end) of matched words in ``snippet`` (the page highlights them)
    at: float
    customer: str | None = None
    agent_id: int | None = None
    channel: str | None = None
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"msg_id": str(self.msg_id), "conversation_id": self.conversation_id, "role": self.role,
                "snippet": self.snippet, "highlights": [list(m) for m in self.marks], "at": self.at,
                "customer": self.customer, "agent_id": None if self.agent_id is None else str(self.agent_id),
                "channel": self.channel, "score": round(self.score, 4)}  # fmt: skip


@dataclass(frozen=True)
class SearchPage:
    hits: tuple[MessageHit, ...] = field(default_factory=tuple)
    total: int = 0  # every match, not only this page

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "hits": [h.to_json() for h in self.hits]}


@runtime_checkable
class MessageIndex(Protocol):
    def add(self, docs: Sequence[IndexedMessage]) -> None:
        """Index (or re-index: idempotent by ``msg_id``) these lines; visible to readers within ~1 s."""
        ...

    def search(self, tenant: str, query: MessageQuery) -> SearchPage: ...

    def delete_conversation(self, tenant: str, conversation_id: str) -> int:
        """Forget one conversation's lines (a customer's erasure request); returns how many were indexed."""
        ...

    def close(self) -> None: ...


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() else None
    except (TypeError, ValueError):
        return None


def indexed_from(event: StreamEvent) -> IndexedMessage | None:
    """The masked copy of a ``message`` event; None for other kinds and for lines without text (a photo or a
    file alone has no words to find)."""
    if event.kind != "message":
        return None
    data = event.data
    text = data.get("text")
    role = data.get("role")
    if not isinstance(text, str) or not text.strip() or role not in ROLES:
        return None
    from knowledge.text.pii import mask  # the knowledge base's masker: one definition of PII for every index

    customer, channel = data.get("customer"), data.get("channel")
    return IndexedMessage(msg_id=event.id, tenant=event.tenant, conversation_id=event.key, role=str(role),
                          text=mask(text), at=float(event.at),
                          customer=str(customer) if customer not in (None, "") else None,
                          agent_id=_int_or_none(data.get("agent_id")),
                          channel=str(channel) if channel not in (None, "") else None)  # fmt: skip


def create_message_index(settings: Any) -> MessageIndex:
    """The backend ``message_search.type`` names (tantivy by default, under ``$CSBOT_HOME/search/messages``)."""
    backend = settings.backend("message_search")
    cls = load_class(backend.type, "message_search", BUILTIN)
    return cls.from_options(backend.options, settings)  # type: ignore[no-any-return]


__all__ = ["IndexedMessage", "MessageHit", "MessageIndex", "MessageQuery", "Scope", "SearchPage",
           "create_message_index", "indexed_from"]  # fmt: skip
