"""The knowledge service's metrics: answers and abstentions as they are given, the answer cache and the
service's own counters (degraded retrieval, LLM and judge outcomes) read at scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily

from bot.metrics import register_collector
from knowledge.service import KnowledgeService

# the names KnowledgeService.metrics counts besides answers (bounded: written in code, never from input)
EVENTS = ("degraded_vector_down", "degraded_keyword_down", "llm_ok", "llm_error", "llm_timeout", "judge_pick",
          "judge_none", "judge_error", "lowconf_recorded")  # fmt: skip
CACHE_RESULTS = ("lru_hit", "redis_hit", "miss", "redis_error")  # knowledge.cache.AnswerCache.stats


ANSWERS = Counter("csbot_kb_answers_total", "Knowledge answers given to the assistant (abstained: no confident "
                  "answer), and whether the answer cache served them", ["outcome", "cached"])  # fmt: skip


def observe_answer(abstained: bool, cached: bool) -> None:
    ANSWERS.labels("abstained" if abstained else "answered", "true" if cached else "false").inc()


def families(svc: KnowledgeService) -> Iterator[Any]:
    cache = svc.__dict__.get("cache")  # not built yet: nothing looked up
    lookups = CounterMetricFamily("csbot_kb_cache_lookups", "Answer cache lookups: lru_hit, redis_hit, miss, "
                                  "redis_error", labels=["result"])  # fmt: skip
    stats = cache.stats if cache is not None else {}
    for result in CACHE_RESULTS:  # every one, zeros too: rate() needs the series before the first event
        lookups.add_metric([result], stats.get(result, 0))
    yield lookups
    events = CounterMetricFamily("csbot_kb_events", "Knowledge service events (degraded retrieval, LLM and "
                                 "judge outcomes, low-confidence questions recorded)", labels=["event"])  # fmt: skip
    for name in EVENTS:
        events.add_metric([name], svc.metrics.get(name, 0))
    yield events


def register(svc: KnowledgeService) -> None:
    register_collector("knowledge", lambda: families(svc))
