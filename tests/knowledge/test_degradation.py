"""Degradation paths (seed §2.5.7), each counted: vector store down, keyword store down, LLM slow or failing."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, write_jsonl
from tests.knowledge.fake_llm import FakeOpenAI


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: nothing listens there


@pytest.fixture
def built_home(fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> Path:
    home = tmp_path / "home"
    svc = fresh_service(home=home)
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "default")
    svc.close()
    return home


def test_vector_store_down_answers_from_keywords(fresh_service: Callable[..., KnowledgeService],
                                                 built_home: Path) -> None:  # fmt: skip
    svc = fresh_service({"vectors": {"type": "milvus", "uri": f"http://127.0.0.1:{dead_port()}", "timeout": 1}},
                        home=built_home)  # fmt: skip
    ans = svc.answer("支持哪些支付方式", "default")
    assert "vector_down" in ans.degraded and not ans.abstained
    assert ans.citations[0].id == "q3"
    assert svc.metrics["degraded_vector_down"] == 1
    # the down backend is not retried on every turn (each retry would wait for the connect timeout)
    calls: list[object] = []
    real_dense = svc.retriever.dense
    svc.retriever.dense = lambda *a, **k: calls.append(a) or real_dense(*a, **k)  # type: ignore[method-assign]
    svc.answer("多久能发货", "default")
    assert calls == []
    assert svc.metrics["degraded_vector_down"] == 2


def test_keyword_store_down_answers_from_vectors(fresh_service: Callable[..., KnowledgeService],
                                                 built_home: Path) -> None:  # fmt: skip
    svc = fresh_service({"keywords": {"type": "elasticsearch", "hosts": f"http://127.0.0.1:{dead_port()}",
                                      "timeout": 1}}, home=built_home)  # fmt: skip
    ans = svc.answer("我想退货", "default")
    assert ans.degraded == ("keyword_down",) and not ans.abstained and ans.citations[0].id == "q1"
    assert svc.metrics["degraded_keyword_down"] == 1


def test_both_down_abstains(fresh_service: Callable[..., KnowledgeService], built_home: Path) -> None:
    svc = fresh_service({
        "vectors": {"type": "milvus", "uri": f"http://127.0.0.1:{dead_port()}", "timeout": 1},
        "keywords": {"type": "elasticsearch", "hosts": f"http://127.0.0.1:{dead_port()}", "timeout": 1},
    }, home=built_home)  # fmt: skip
    ans = svc.answer("我想退货", "default")
    assert ans.abstained and set(ans.degraded) == {"vector_down", "keyword_down"}


def llm_conf(fake: FakeOpenAI, model: str, timeout: float = 5.0) -> dict[str, object]:
    return {"llm": {"type": "openai", "base_url": fake.base_url, "model": model, "api_key": "sk-test",
                    "timeout": timeout}}  # fmt: skip


def test_llm_answer_through_the_chain(fresh_service: Callable[..., KnowledgeService], built_home: Path,
                                      fake_llm: FakeOpenAI) -> None:  # fmt: skip
    svc = fresh_service(llm_conf(fake_llm, "fake-ok"), home=built_home)
    ans = svc.answer("我想退货", "default")
    assert ans.source == "llm" and ans.text.startswith("根据资料") and not ans.degraded
    assert ans.citations[0].id == "q1"
    sent = fake_llm.requests[-1]
    assert sent["model"] == "fake-ok" and "申请售后" in sent["messages"][-1]["content"]
    assert sent["messages"][0]["role"] == "system"
    assert svc.metrics["llm_ok"] == 1
    # the LLM gets the masked question: no customer phone number leaves for an outside service
    assert svc.answer("我想退货 我手机13812345678", "default").source == "llm"
    assert all("13812345678" not in m["content"] for m in fake_llm.requests[-1]["messages"])
    # out-of-scope questions never reach the LLM
    n = len(fake_llm.requests)
    assert svc.answer("明天会下雨吗", "default").abstained and len(fake_llm.requests) == n


def test_llm_timeout_falls_back_to_faq_snapshot(fresh_service: Callable[..., KnowledgeService],
                                                built_home: Path, fake_llm: FakeOpenAI) -> None:  # fmt: skip
    svc = fresh_service(llm_conf(fake_llm, "fake-slow", timeout=0.5), home=built_home)
    svc.warm_up()  # model, catalog and off-topic anchors load outside the timing (the server does this at start)
    t = time.perf_counter()
    ans = svc.answer("我想退货", "default")
    assert time.perf_counter() - t < 3  # the slow LLM is cut off at 0.5 s
    assert ans.source == "faq" and ans.degraded == ("llm_timeout",)
    assert ans.text == "在订单详情页点击申请售后即可退货。"
    assert svc.metrics["llm_timeout"] == 1


def test_llm_error_falls_back_to_faq_snapshot(fresh_service: Callable[..., KnowledgeService],
                                              built_home: Path, fake_llm: FakeOpenAI) -> None:  # fmt: skip
    svc = fresh_service(llm_conf(fake_llm, "fake-error"), home=built_home)
    ans = svc.answer("多久能发货", "default")
    assert ans.source == "faq" and ans.degraded == ("llm_error",) and "48小时" in ans.text
    assert svc.metrics["llm_error"] == 1
    # degraded answers are not cached
    assert not svc.answer("多久能发货", "default").cached
