"""Agent assist (seed §2.4.8): what the knowledge base holds for a customer's message, for an agent to insert,
and a summary of the bot part of a conversation written by the LLM when one is configured.

The agent decides, so the answers are the top retrieved items whether or not the gate would have let the bot
answer on its own (``sure`` says whether it would). Text is PII-masked before retrieval and before the LLM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError
from knowledge.text.pii import mask

if TYPE_CHECKING:
    from knowledge.service import KnowledgeService

MAX_LINES = 40  # the tail of a long bot conversation is what the agent needs
SUMMARY_PROMPT = (
    "你是电商客服主管。下面是顾客和机器人客服的对话，顾客随后要求转人工。"
    "用不超过三句话写给接手的人工客服：顾客要办什么事、提到的订单号、机器人已经回答了什么、还没解决什么。"
    "只写对话里有的信息，不要编造，不要寒暄。"
)
WHO = {"customer": "顾客", "bot": "机器人", "agent": "客服"}


@dataclass(frozen=True)
class Suggestion:
    id: str
    title: str
    text: str
    kind: str  # faq | doc
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def suggest(svc: KnowledgeService, query: str, tenant_id: str, k: int = 3) -> tuple[list[Suggestion], bool]:
    """The top ``k`` distinct answers for ``query`` and whether the bot would have been sure of the first."""
    result, passages = svc.search(mask(query), tenant_id)
    out: list[Suggestion] = []
    seen: set[str] = set()
    for c, p in zip(result.candidates, passages, strict=False):
        if p.text in seen:  # several phrasings of one FAQ share an answer
            continue
        seen.add(p.text)
        out.append(Suggestion(p.id, p.title, p.text, c.kind, round(c.score, 4)))
        if len(out) == k:
            break
    return out, bool(result.accepted and out)


def transcript(lines: Sequence[Mapping[str, Any]]) -> str:
    """``[{"from": "customer"|"bot"|"agent", "text"}]`` as masked dialogue lines (button payloads left out)."""
    kept = [(str(x.get("from")), str(x.get("text") or "").strip()) for x in lines if isinstance(x, Mapping)]
    kept = [(w, t) for w, t in kept if t and not t.startswith("/")][-MAX_LINES:]
    return "\n".join(f"{WHO.get(w, w)}：{mask(t)[:500]}" for w, t in kept)


class LlmSummarizer:
    """transcript → prompt → LLM → a few sentences, as one LCEL runnable over the ``llm`` backend."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float = 8.0) -> None:
        from knowledge.llm import chat_model, text_chain

        llm = chat_model(base_url, model, api_key, timeout, temperature=0.0)
        self.chain = text_chain(llm, SUMMARY_PROMPT, "【对话】\n{dialogue}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LlmSummarizer:
        base_url, model = options.get("base_url"), options.get("model")
        if not base_url or not model:
            raise ConfigError("llm.base_url / llm.model", "an OpenAI-compatible endpoint URL and a model name")
        return cls(str(base_url), str(model), str(options.get("api_key") or "EMPTY"),
                   float(options.get("timeout", 8.0)))  # fmt: skip

    def summarize(self, lines: Sequence[Mapping[str, Any]]) -> str | None:
        """None when there is nothing to summarise; raises when the LLM fails (the caller falls back)."""
        dialogue = transcript(lines)
        if not dialogue:
            return None
        text = self.chain.invoke({"dialogue": dialogue})
        if not isinstance(text, str) or not text.strip():
            raise ValueError("empty LLM summary")
        return text.strip()[:600]
