"""Knowledge-service tuning from the ``knowledge:`` settings section, validated once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import ConfigError
from bot.sections import section_values


@dataclass(frozen=True)
class KnowledgeConfig:
    chunk_size: int = 200  # 200 vs 400 on dev/held-out/set 2: recall@5 and answered up, abstention equal
    chunk_overlap: int = 30
    max_file_mb: float = 20.0
    # retrieval
    dense_top_k: int = 100
    keyword_top_k: int = 50
    result_top_k: int = 8
    # fusion and gating: defaults were chosen on knowledge/samples/eval.jsonl (see knowledge/retrieval.py)
    keyword_weight: float = 0.02
    keyword_saturation: float = 5.0
    centroid_weight: float = 0.4
    doc_bias: float = 0.02
    gate_accept: float = 0.925
    gate_agree: float = 0.91
    gate_keyword_only: float = 0.55
    # learned gate (knowledge/gate): "learned" (default) or "cosine" (the rule above only)
    gate: str = "learned"
    lexical_weight: float = 0.08
    gate_threshold: float = 0.6
    suggest_threshold: float = 0.3
    # "sure": confident enough to overrule the NLU when it routed the message elsewhere (out_of_scope, complaint)
    sure_threshold: float = 0.85
    offtopic_file: str = ""
    gate_weights: str = ""  # a file written by python -m knowledge.gate.train (default: the shipped weights)
    backend_retry_seconds: float = 5.0
    # answer cache (seed §2.5.7: 5-30 min)
    cache_ttl_seconds: int = 600
    lru_size: int = 4096
    state_poll_seconds: float = 1.0
    record_low_confidence: bool = True
    index_faq_answers: bool = False
    llm_answer_faq_directly: bool = False
    # with an LLM configured, ask it which candidate answers when the gate is unsure (knowledge/judge.py)
    llm_judge: bool = True

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> KnowledgeConfig:
        values = section_values(cls, raw, "knowledge")
        cfg = cls(**values)
        if not 300 <= cfg.cache_ttl_seconds <= 1800:
            raise ConfigError("knowledge.cache_ttl_seconds", "300..1800 (seed: 5-30 minutes)", cfg.cache_ttl_seconds)
        if cfg.gate not in ("learned", "cosine"):
            raise ConfigError("knowledge.gate", "learned or cosine", cfg.gate)
        if not 0 < cfg.suggest_threshold <= cfg.gate_threshold <= cfg.sure_threshold <= 1:
            raise ConfigError("knowledge.gate_threshold",
                              "0 < suggest_threshold <= gate_threshold <= sure_threshold <= 1")  # fmt: skip
        if cfg.chunk_size < 50 or not 0 <= cfg.chunk_overlap < cfg.chunk_size // 2:
            raise ConfigError("knowledge.chunk_overlap", "0 <= overlap < chunk_size/2, chunk_size >= 50")
        return cfg

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)
