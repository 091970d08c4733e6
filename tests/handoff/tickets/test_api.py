"""The tickets' HTTP API (Starlette's test client, the real app on SQLite): the round trip an agent makes, and
the bad input list: an unknown session (404), an illegal move (409), a 1 MB comment (413), another tenant's
ticket (404), malformed values (400), roles (401/403)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from bot.security import Principal, issue_token
from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database

from ..conftest import Clock, Customers
from ..test_api import ask, login

Api = tuple[TestClient, Customers, Settings]


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[Api]:
    from handoff.app import create_app

    settings = load_settings(env, {"handoff": {"working_hours": "00:00-24:00"}, "tickets": {"sla_minutes": {3: 90}}})
    migrate.upgrade(Database.from_settings(settings).engine)
    customers = Customers()
    with TestClient(create_app(settings, customers, Clock(), run_clock=False)) as c:
        yield c, customers, settings


def taken(c: TestClient, settings: Settings, agent: dict[str, str], conv: str) -> str:
    c.post("/api/agent/heartbeat", headers=agent)
    ask(c, settings, conv)
    sid = c.get("/api/agent/queue", headers=agent).json()["items"][0]["id"]
    assert c.post(f"/api/agent/sessions/{sid}/take", headers=agent).status_code == 200
    return str(sid)


def test_an_agent_works_a_ticket_over_http(api: Api) -> None:
    c, customers, settings = api
    agent = login(c, settings, "xiaowang", {"agent"})
    sid = taken(c, settings, agent, "c1")
    r = c.post("/api/agent/tickets", headers=agent, json={"session_id": sid, "title": "退款没到账",
                                                           "category": "refund", "description": "寄回 5 天"})
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["number"] == "T2601010001" and t["status"] == "new" and t["sla_minutes"] == 90  # tickets.sla_minutes
    assert t["sla_seconds_left"] == 90 * 60 and t["breached"] is False and t["conversation_id"] == "c1"
    assert "工单号 T2601010001" in customers.texts("c1")[-1]
    tid = t["id"]
    assert c.post(f"/api/agent/tickets/{tid}/status", headers=agent, json={"status": "in_progress"}).json()[
        "assignee_id"] is not None  # fmt: skip
    assert c.post(f"/api/agent/tickets/{tid}/comments", headers=agent, json={"text": "已催财务"}).status_code == 200
    done = c.post(f"/api/agent/tickets/{tid}/status", headers=agent, json={"status": "resolved", "reply": "已退款"})
    assert done.json()["status"] == "resolved" and "已处理完成" in customers.texts("c1")[-1]
    detail = c.get(f"/api/agent/tickets/{tid}", headers=agent).json()
    assert [x["text"] for x in detail["comments"]] == ["已催财务", "（回复客户）已退款"]
    assert detail["transcript_url"] == f"/api/agent/tickets/{tid}/transcript"
    transcript = c.get(detail["transcript_url"], headers=agent).json()
    assert transcript["session_id"] == sid and transcript["conversation"] == []  # no Rasa here
    listed = c.get("/api/agent/tickets?status=resolved&category=refund&assignee=me", headers=agent).json()["items"]
    assert [x["id"] for x in listed] == [tid]
    assert c.get("/api/agent/tickets?status=new", headers=agent).json()["items"] == []
    assert c.get("/api/agent/tickets?q=T2601010001", headers=agent).json()["items"][0]["id"] == tid


def test_bad_input_is_refused_with_the_right_status(api: Api) -> None:
    c, _, settings = api
    agent = login(c, settings, "a1", {"agent"})
    other = login(c, settings, "a2", {"agent"})
    kb_admin = login(c, settings, "k1", {"kb_admin"})
    sid = taken(c, settings, agent, "c2")
    assert c.post("/api/agent/tickets", headers=agent, json={"session_id": "123456", "title": "x"}).status_code == 404
    assert c.post("/api/agent/tickets", headers=agent, json={"conversation_id": "nobody", "title": "x"}) \
        .status_code == 404  # fmt: skip
    for bad in ({"session_id": sid}, {"session_id": sid, "title": "x", "priority": 9},
                {"session_id": sid, "title": "x", "category": ["refund"]}, {"session_id": "1; drop", "title": "x"},
                {"title": "x"}):  # fmt: skip
        assert c.post("/api/agent/tickets", headers=agent, json=bad).status_code == 400, bad
    tid = c.post("/api/agent/tickets", headers=agent, json={"session_id": sid, "title": "破损"}).json()["id"]
    assert c.post(f"/api/agent/tickets/{tid}/status", headers=agent, json={"status": "new"}).status_code == 409
    assert c.post(f"/api/agent/tickets/{tid}/status", headers=agent, json={"status": "done"}).status_code == 400
    big = {"text": "长" * (1024 * 1024 // 3 + 10)}  # 1 MB of UTF-8
    assert c.post(f"/api/agent/tickets/{tid}/comments", headers=agent, json=big).status_code == 413
    assert c.post(f"/api/agent/tickets/{tid}/comments", headers=agent, json={"text": "长" * 4001}).status_code == 400
    c.post(f"/api/agent/tickets/{tid}/status", headers=agent, json={"status": "in_progress"})
    assert c.post(f"/api/agent/tickets/{tid}/status", headers=other, json={"status": "closed"}).status_code == 403
    assert c.post(f"/api/agent/tickets/{tid}/assign", headers=other, json={"agent_id": "1"}).status_code == 403
    foreign = {"Authorization": "Bearer " + issue_token(settings.keyring, Principal(1, "acme",
                                                                                    frozenset({"supervisor"})), 600)}
    for method, path, body in (("GET", f"/api/agent/tickets/{tid}", None),
                               ("GET", f"/api/agent/tickets/{tid}/transcript", None),
                               ("POST", f"/api/agent/tickets/{tid}/status", {"status": "closed"}),
                               ("POST", f"/api/agent/tickets/{tid}/comments", {"text": "x"}),
                               ("POST", f"/api/agent/tickets/{tid}/assign", {"agent_id": None})):  # fmt: skip
        assert c.request(method, path, headers=foreign, json=body).status_code == 404, path
    assert c.get("/api/agent/tickets", headers=foreign).json()["items"] == []
    assert c.post("/api/agent/tickets", headers=foreign, json={"session_id": sid, "title": "x"}).status_code == 404
    assert c.get("/api/agent/tickets").status_code == 401
    assert c.get("/api/agent/tickets", headers=kb_admin).status_code == 403
    for query in ("priority=high", "limit=0", "breached=maybe", "assignee=bob", "category=shoes", "before=x"):
        assert c.get(f"/api/agent/tickets?{query}", headers=agent).status_code == 400, query
    assert c.get("/api/agent/tickets/abc", headers=agent).status_code == 400
