"""KBs of any FAQ shape: FAQs with few phrasings (a plain question+answer export) next to rich ones.

Retrieval scores an FAQ's answer passage like a document's (the passage bias), the gate has weights for a top
FAQ with few phrasings (``GateModel.sparse``), and on the question+answer-only sample KB the pipeline is held
against the plain dense baseline of ``csbot kb eval --baseline`` on the dev set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from knowledge.cli import app
from knowledge.gate.model import FEATURES, GateModel
from knowledge.gate.train import refit
from knowledge.retrieval import dense_scores
from knowledge.service import KnowledgeService
from knowledge.types import Hit
from tests.knowledge.conftest import SAMPLES, SMALL_FAQ, write_jsonl


def test_an_faq_answer_passage_gets_the_passage_bias_a_document_gets() -> None:
    hits = [Hit("fv1", "faq", 1, 0.90), Hit("fc1", "faq", 1, 0.90), Hit("fa2", "faq", 2, 0.89),
            Hit("fv2", "faq", 2, 0.85), Hit("fc2", "faq", 2, 0.85), Hit("dv3", "doc", 3, 0.89)]  # fmt: skip
    scores = dense_scores(hits, centroid_weight=0.4, doc_bias=0.02)
    assert scores[("doc", 3)] == pytest.approx(0.91)
    # FAQ 2: max(question 0.85, answer passage 0.89 + 0.02) and its centroid 0.85
    assert scores[("faq", 2)] == pytest.approx(0.6 * 0.91 + 0.4 * 0.85)
    assert scores[("faq", 1)] == pytest.approx(0.90)  # phrasings only: no bias


def synthetic(n: int, positive_share: float, shift: float, seed: int) -> tuple[list[dict[str, float]], list[int]]:
    rng = np.random.default_rng(seed)
    labels = [int(rng.random() < positive_share) for _ in range(n)]
    rows = [{f: float(rng.normal(0.9 + shift if y else 0.86 + shift, 0.02)) for f in FEATURES} for y in labels]
    return rows, labels


def test_sparse_weights_decide_for_a_sparse_top_and_round_trip(tmp_path: Path) -> None:
    main = GateModel.fit(*synthetic(200, 0.5, 0.0, 1), trained_on="rich")
    sparse = GateModel.fit(*synthetic(200, 0.5, -0.03, 2), trained_on="plain")
    model = main.with_sparse(sparse)
    assert model.for_top(False) is model and model.for_top(True).trained_on == "plain"
    assert main.for_top(True) is main  # no sparse weights: the main ones decide for every top
    middle = {f: 0.87 for f in FEATURES}  # out of scope for a rich top, in scope for a plain one
    assert model.for_top(True).probability(middle) > 0.5 > model.for_top(False).probability(middle)
    path = tmp_path / "w.json"
    model.save(path)
    assert GateModel.load(path) == model
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["sparse"]["features"] = ["dense", "mood"]
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\(sparse\): unknown gate features \['mood'\]"):
        GateModel.load(path)


def test_a_balanced_fit_weighs_both_classes_equally() -> None:
    rows, labels = synthetic(300, 0.9, 0.0, 3)  # nine in ten answerable, as for a top FAQ with few phrasings
    plain, balanced = GateModel.fit(rows, labels), GateModel.fit(rows, labels, balanced=True)
    middle = {f: 0.88 for f in FEATURES}
    assert plain.probability(middle) > 0.7 and 0.3 < balanced.probability(middle) < 0.7


def test_training_fits_each_shape_on_its_own_rows_and_keeps_the_other() -> None:
    shipped = GateModel.load()
    rows, labels = synthetic(120, 0.6, -0.02, 4)
    rows = [{**r, "sparse_top": float(i % 2)} for i, r in enumerate(rows)]
    model, summary = refit(shipped, rows, labels, "sparse", "test")
    assert model.features == shipped.features and model.weights == shipped.weights  # main kept
    assert model.sparse is not None and model.sparse.trained_on == "test, sparse n=60" and summary["sparse"]["n"] == 60
    both, summary = refit(shipped, rows, labels, "both", "test")
    assert both.trained_on == "test, main n=60" and both.sparse is not None and both.sparse.trained_on.endswith("n=60")
    only_rich = [{**r, "sparse_top": 0.0} for r in rows]
    kept, summary = refit(shipped, only_rich, labels, "both", "test")
    assert kept.sparse == shipped.sparse and summary["sparse"].startswith("kept")
    with pytest.raises(ValueError, match="no sparse rows"):
        refit(shipped, only_rich, labels, "sparse", "test")


def test_the_shipped_sparse_weights_decide_for_a_plain_faq(fresh_service: Callable[..., KnowledgeService],
                                                           tmp_path: Path) -> None:  # fmt: skip
    shipped = GateModel.load()
    assert shipped.sparse is not None and "qa-only" in shipped.sparse.trained_on
    svc = fresh_service()
    svc.import_paths([write_jsonl(tmp_path / "faq.jsonl", SMALL_FAQ)], "default")
    result, passages = svc.search("能用支付宝付钱吗", "default")  # q3 has no similar questions
    assert passages[0].id == "q3" and result.features["sparse_top"] == 1.0
    feats = {f: result.features[f] for f in FEATURES}
    assert result.features["p_answer"] == pytest.approx(shipped.sparse.probability(feats))
    result, passages = svc.search("退货流程是怎样的", "default")  # q1 has two: three phrasings, rich enough
    assert passages[0].id == "q1" and result.features["sparse_top"] == 0.0
    feats = {f: result.features[f] for f in FEATURES}
    assert result.features["p_answer"] == pytest.approx(shipped.probability(feats))


# The int8 engine quantizes activations per call, so a vector moves slightly with what it is embedded beside,
# and float roundings differ across CPUs (tests/knowledge/test_decision_margins.py): the baseline's FAQ-case
# recall@1 on the dev set moved by 0.024 (3 of 126 cases) between batches of 32 and single queries.
TOLERANCE = 0.03
# FAQ-case recall@1 on the dev set is the one number where the pipeline is below the baseline on this KB:
# 0.746 vs 0.786 on the AMD EPYC machine, 2026-12-03 (docs/benchmarks.md); the test holds it there.
KNOWN_GAP_R1_FAQ = 0.04


def test_pipeline_is_not_below_the_plain_dense_baseline_on_the_question_answer_only_kb(tmp_path: Path) -> None:
    """The dev set on knowledge/samples/faq_qa_only.jsonl + the sample documents, through ``csbot kb eval
    --baseline`` itself (~25 s: the whole dev set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")} | {"CSBOT_HOME": str(tmp_path)}
    runner = CliRunner()
    done = runner.invoke(app, ["import", str(SAMPLES / "faq_qa_only.jsonl"), str(SAMPLES / "docs"), "--json"],
                         env=env, catch_exceptions=False)  # fmt: skip
    assert done.exit_code == 0, done.stdout
    done = runner.invoke(app, ["eval", str(SAMPLES / "eval.jsonl"), "--baseline", "--json"], env=env,
                         catch_exceptions=False)  # fmt: skip
    assert done.exit_code == 0, done.stdout
    report = json.loads(done.stdout)
    base = report["baseline"]
    assert report["faq_cases"] == base["faq_cases"] == 126
    for key in ("recall@1", "recall@5", "recall@5_faq_cases"):
        assert report[key] >= base[key] - TOLERANCE, (key, report[key], base[key])
    assert report["recall@1_faq_cases"] >= base["recall@1_faq_cases"] - KNOWN_GAP_R1_FAQ - TOLERANCE


def test_the_baseline_embeds_each_query_alone(fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> None:
    """A query's baseline ranking does not depend on its neighbours in the eval file (one call per query)."""
    from knowledge.baseline import for_tenant

    svc = fresh_service()
    svc.import_paths([write_jsonl(tmp_path / "faq.jsonl", SMALL_FAQ)], "default")
    base = for_tenant(svc)
    sizes: list[int] = []
    embed = base.embedder.embed_queries

    def counting(texts):  # type: ignore[no-untyped-def]
        sizes.append(len(texts))
        return embed(texts)

    object.__setattr__(base, "embedder", type("Counting", (), {"embed_queries": staticmethod(counting)})())
    assert base.rank_many(["我想退货", "几天发货", "能刷信用卡吗"], k=1) == [["q1"], ["q2"], ["q3"]]
    assert sizes == [1, 1, 1]
