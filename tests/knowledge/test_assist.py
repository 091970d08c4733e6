"""Agent assist from the knowledge service: the top answers with their sources for the agent to insert, and the
conversation summary an LLM writes when one is configured (the LLM is the fake OpenAI-compatible endpoint)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from bot.security import service_token
from knowledge.assist import transcript
from knowledge.server import create_app
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, make_settings, write_jsonl
from tests.knowledge.fake_llm import FakeOpenAI

DIALOGUE = [
    {"from": "customer", "text": "我想退货 电话13812345678"},
    {"from": "bot", "text": "在订单详情页点击申请售后即可退货。"},
    {"from": "customer", "text": "/request_human"},
    {"from": "customer", "text": "转人工"},
]


def client_for(svc: KnowledgeService, home: Path) -> tuple[TestClient, Callable[[str], dict[str, str]]]:
    settings = make_settings(home)

    def auth(tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {service_token(settings.keyring, tenant, 'handoff', 60)}"}

    return TestClient(create_app(settings, svc)), auth


def test_answers_come_with_their_sources_and_stay_in_the_tokens_tenant(
        fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> None:  # fmt: skip
    home = tmp_path / "home"
    svc = fresh_service(home=home)
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "shop1")
    client, auth = client_for(svc, home)
    with client:
        r = client.post("/assist", json={"query": "我想退货", "conversation": DIALOGUE}, headers=auth("shop1"))
        assert r.status_code == 200, r.text
        body = r.json()
        first = body["answers"][0]
        assert (first["id"], first["kind"], first["text"]) == ("q1", "faq", "在订单详情页点击申请售后即可退货。")
        assert body["sure"] and len({a["text"] for a in body["answers"]}) == len(body["answers"]) <= 3
        assert body["summary"] is None  # no LLM configured: the handoff service writes the extractive one
        other = client.post("/assist", json={"query": "我想退货", "tenant_id": "shop1"}, headers=auth("shop2"))
        assert other.json()["answers"] == [] and not other.json()["sure"]
        assert client.post("/assist", json={"query": "我想退货"}).status_code == 401
        assert client.post("/assist", json={"query": 3}, headers=auth("shop1")).status_code == 400
        assert client.post("/assist", json={"conversation": "x"}, headers=auth("shop1")).status_code == 400


def test_an_llm_writes_the_summary_from_masked_lines_and_its_failure_costs_only_the_summary(
        fresh_service: Callable[..., KnowledgeService], tmp_path: Path, fake_llm: FakeOpenAI) -> None:  # fmt: skip
    home = tmp_path / "home"
    conf = {"llm": {"type": "openai", "base_url": fake_llm.base_url, "model": "fake-ok", "api_key": "sk-test"}}
    svc = fresh_service(conf, home=home)
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "default")
    client, auth = client_for(svc, home)
    with client:
        body = client.post("/assist", json={"query": "", "conversation": DIALOGUE}, headers=auth("default")).json()
        assert body["summary"] and body["answers"] == []
        sent = "\n".join(m["content"] for m in fake_llm.requests[-1]["messages"])
        assert "13812345678" not in sent and "/request_human" not in sent and "机器人：在订单详情页" in sent
    svc_down = fresh_service({"llm": {**conf["llm"], "model": "fake-error"}}, home=tmp_path / "home2")
    svc_down.import_paths([write_jsonl(tmp_path / "b.jsonl", SMALL_FAQ)], "default")
    client, auth = client_for(svc_down, tmp_path / "home2")
    with client:
        body = client.post("/assist", json={"query": "我想退货", "conversation": DIALOGUE},
                           headers=auth("default")).json()  # fmt: skip
        assert body["summary"] is None and body["answers"][0]["id"] == "q1"


def test_transcript_keeps_the_tail_masks_pii_and_drops_payloads() -> None:
    lines = [{"from": "customer", "text": f"第{i}句"} for i in range(60)] + [{"from": "bot", "text": " "}, "x"]
    text = transcript(lines)  # type: ignore[arg-type]
    assert text.splitlines()[0] == "顾客：第20句" and text.splitlines()[-1] == "顾客：第59句"
    masked_first = "顾客：" + transcript([DIALOGUE[0]]).split("：", 1)[1]
    bot_line = "机器人：在订单详情页点击申请售后即可退货。"
    assert transcript(DIALOGUE).splitlines() == [masked_first, bot_line, "顾客：转人工"]
    assert "13812345678" not in transcript(DIALOGUE)
