"""An LLM second opinion for the questions the learned gate is unsure about (when an LLM is configured).

Between ``suggest_threshold`` and ``sure_threshold`` the gate's features cannot tell a paraphrase from a near
miss (信用卡 payment vs 办信用卡, shop points vs 积分落户: docs/benchmarks.md); a language model reading the
question beside the top candidates can. It answers with the number of the candidate that answers the
question, or 0. Its pick is answered grounded (the FAQ text, or the LLM answer chain as usual); 0 abstains.
Any failure — timeout, HTTP error, a reply without a usable number — leaves the gate's decision standing.
Only the PII-masked question is sent.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from knowledge.answer import Passage
from knowledge.config import KnowledgeConfig
from knowledge.retrieval import Retrieval

log = logging.getLogger(__name__)

JUDGE_PROMPT = (
    "你是电商平台客服知识库的审核员。下面是用户的问题和几条候选知识。"
    "判断哪一条能直接回答这个问题（意思相同即可，说法可以不同）。"
    "只回答一个编号，例如 2；如果都不能回答，或者问的是其他平台、其他行业的事，回答 0。不要解释。"
)
_NUMBER = re.compile(r"\d+")


def format_candidates(passages: Sequence[Passage], snippet: int = 80) -> str:
    return "\n".join(f"[{i + 1}] {p.title}：{p.text[:snippet]}" for i, p in enumerate(passages))


def parse_pick(reply: str, n: int) -> int | None:
    """The reply's first number → a 0-based candidate index, or None for 0 ("none of them")."""
    m = _NUMBER.search(reply or "")
    if m is None or not 0 <= int(m.group(0)) <= n:
        raise ValueError(f"judge reply without a candidate number: {reply[:60]!r}")
    k = int(m.group(0))
    return None if k == 0 else k - 1


class LlmJudge:
    """question + candidates → prompt → LLM → candidate index, as one LCEL runnable."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float = 8.0,
                 max_candidates: int = 3) -> None:  # fmt: skip
        from knowledge.llm import chat_model, text_chain

        self.max_candidates = max_candidates
        llm = chat_model(base_url, model, api_key, timeout, temperature=0.0, max_tokens=8)
        self.chain = text_chain(llm, JUDGE_PROMPT, "【候选知识】\n{candidates}\n\n【用户问题】{question}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LlmJudge:
        """The ``llm:`` section (already validated by the answerer): same endpoint, model and timeout."""
        return cls(str(options["base_url"]), str(options["model"]), str(options.get("api_key") or "EMPTY"),
                   float(options.get("timeout", 8.0)))  # fmt: skip

    def pick(self, question: str, passages: Sequence[Passage]) -> int | None:
        shown = list(passages)[: self.max_candidates]
        reply = self.chain.invoke({"question": question, "candidates": format_candidates(shown)})
        return parse_pick(str(reply), len(shown))


def apply_judge(judge: LlmJudge, question: str, result: Retrieval, passages: list[Passage],
                cfg: KnowledgeConfig, metrics: Counter[str]) -> tuple[Retrieval, list[Passage]]:  # fmt: skip
    """Ask the judge when the gate's probability is in [suggest_threshold, sure_threshold)."""
    if not passages or result.reason == "other_platform":
        return result, passages
    if not cfg.suggest_threshold <= result.confidence < cfg.sure_threshold:
        return result, passages
    try:
        pick = judge.pick(question, passages)
    except Exception as exc:  # timeout, HTTP error, unusable reply: the gate decides alone
        metrics["judge_error"] += 1
        log.warning("LLM judge failed, keeping the gate's decision: %s", exc)
        return result, passages
    features = {**result.features, "judge": -1.0 if pick is None else float(pick + 1)}
    if pick is None:
        metrics["judge_none"] += 1
        return replace(result, accepted=False, reason="judge_none", features=features), passages
    metrics["judge_pick"] += 1
    order = [pick, *(i for i in range(len(passages)) if i != pick)]
    return replace(result, candidates=[result.candidates[i] for i in order], accepted=True, reason="judge",
                   confidence=max(result.confidence, cfg.gate_threshold), features=features), \
        [passages[i] for i in order]  # fmt: skip
