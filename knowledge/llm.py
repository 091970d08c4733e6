"""The one way this package talks to an OpenAI-compatible LLM (the ``llm:`` settings): a chat model that never
retries on its own (callers have their own fallbacks and time budgets), and the plain prompt → LLM → text chain
the answerer, the judge, the summariser and the FAQ proposer build on."""

from __future__ import annotations

from typing import Any


def chat_model(base_url: str, model: str, api_key: str, timeout: float, **options: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=base_url, model=model, api_key=api_key, timeout=timeout, max_retries=0, **options)


def text_chain(llm: Any, system: str, human: str) -> Any:
    """system + human templates → ``llm`` → the reply's text, as one LCEL runnable."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("system", system), ("human", human)]) | llm | StrOutputParser()
