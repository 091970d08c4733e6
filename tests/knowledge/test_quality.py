"""Retrieval-quality regression guard on the dev set (knowledge/samples/eval.jsonl).

Thresholds sit a little under the measured values so a change that hurts retrieval fails loudly.
tests/data/kb_heldout.jsonl (set 1) is not asserted here, but it is not held out either: the chunk size and
the FAQ's paraphrases were tuned on it (docs/evaluation.md).
"""

from __future__ import annotations

import pytest

from knowledge.evaluation import evaluate, load_cases
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SAMPLES


@pytest.mark.slow
def test_dev_set_quality(kb: KnowledgeService) -> None:
    report = evaluate(kb, load_cases(SAMPLES / "eval.jsonl"), "default")
    assert report["n"] == len(load_cases(SAMPLES / "eval.jsonl"))
    # measured 0.949 / 0.986 / 0.978 / 0.941 with the learned gate (docs/benchmarks.md); the gate's weights
    # were fitted on this set, so these floors guard the code path, not generalisation (see kb_heldout2)
    assert report["recall@1"] >= 0.93
    assert report["recall@5"] >= 0.97
    assert report["answered_in_scope"] >= 0.94
    assert report["abstained_oos"] >= 0.9
    # answered with the right source (0.942), or the right FAQ among the suggestions (0.949)
    assert report["answered_correct"] >= 0.92 and report["self_service"] >= report["answered_correct"]
