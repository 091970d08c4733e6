"""Answers from retrieved knowledge: a grounded answer (default, offline) or a LangChain LCEL RAG chain.

Grounded: the matched FAQ's answer verbatim, or the best document passage. Policy wording stays exactly as
the business wrote it (small LLMs get policy arithmetic wrong, platform-facts), so the grounded answer is
also the fallback ("FAQ snapshot", seed §2.5.7) whenever the LLM times out or fails.

LLM: ``llm: {type: openai, base_url, model, api_key, timeout}`` against any OpenAI-compatible endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import ConfigError
from knowledge.types import Citation

CLARIFY = "抱歉，这个问题我暂时没有把握回答准确。您可以换个说法再问一次，或者回复“人工”为您转接人工客服。"
SYSTEM_PROMPT = (
    "你是电商平台的智能客服。只根据【参考资料】回答用户问题，语气礼貌简洁，使用中文。"
    "资料中没有的信息不要编造；涉及时效、金额、天数等规则时，照抄资料原文中的数字。"
    "如果资料不足以回答，请回答“抱歉，这个问题我需要转人工客服为您确认。”"
)


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


def grounded_text(passages: Sequence[Passage]) -> str:
    return passages[0].text if passages else CLARIFY


def format_context(passages: Sequence[Passage]) -> str:
    return "\n\n".join(f"[{i + 1}] {p.title}\n{p.text}" for i, p in enumerate(passages))


class LlmAnswerer:
    """retrieve → prompt → LLM → text, as one LCEL runnable."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float = 8.0,
                 temperature: float = 0.0, max_passages: int = 3) -> None:  # fmt: skip
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnableLambda, RunnablePassthrough

        from knowledge.llm import chat_model

        self.model = model
        self.timeout = timeout
        llm = chat_model(base_url, model, api_key, timeout, temperature=temperature)
        prompt = ChatPromptTemplate.from_messages(
            [("system", SYSTEM_PROMPT), ("human", "【参考资料】\n{context}\n\n【用户问题】{question}")]
        )
        # the retrieve step takes the gated passages the service already found (one retrieval per turn)
        retrieve = RunnableLambda(lambda x: list(x["passages"])[:max_passages])
        self.chain = (
            RunnablePassthrough.assign(passages=retrieve)
            | RunnablePassthrough.assign(context=RunnableLambda(lambda x: format_context(x["passages"])))
            | prompt
            | llm
            | StrOutputParser()
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LlmAnswerer:
        base_url = options.get("base_url")
        model = options.get("model")
        if not base_url or not model:
            raise ConfigError("llm.base_url / llm.model", "an OpenAI-compatible endpoint URL and a model name")
        timeout = float(options.get("timeout", 8.0))
        if not 0 < timeout <= 120:
            raise ConfigError("llm.timeout", "seconds in (0, 120]", timeout)
        return cls(str(base_url), str(model), str(options.get("api_key") or "EMPTY"), timeout,
                   float(options.get("temperature", 0.0)), int(options.get("max_passages", 3)))  # fmt: skip

    def answer(self, question: str, passages: Sequence[Passage]) -> str:
        text = self.chain.invoke({"question": question, "passages": passages})
        if not isinstance(text, str) or not text.strip():
            raise ValueError("empty LLM answer")
        return text.strip()


def create_answerer(type_: str, options: Mapping[str, Any]) -> LlmAnswerer | None:
    if type_ == "none":
        return None
    if type_ == "openai":
        return LlmAnswerer.from_options(options)
    from bot.plugins import load_class

    return load_class(type_, "llm").from_options(options)  # type: ignore[no-any-return]


def citation_for(p: Passage, kind: str, score: float, snippet_len: int = 120) -> Citation:
    snippet = p.text if len(p.text) <= snippet_len else p.text[:snippet_len] + "…"
    return Citation(id=p.id, title=p.title, snippet=snippet, kind=kind, score=round(score, 4))  # type: ignore[arg-type]
