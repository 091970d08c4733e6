"""Message search over HTTP (Starlette's test client, real SQLite, the real tantivy index the archiver
writes) and ``csbot messages search``: who finds what, opening a conversation from the archive, bad input."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bot.crypto import cipher_from_settings
from bot.events.envelope import StreamEvent, conversation_number
from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.storage.models import Message, Session
from handoff.app import create_app
from handoff.search import MessageIndex, create_message_index, indexed_from
from handoff.search.cli import messages_app

from .conftest import Clock, Customers
from .test_api import login

T0 = 1_796_083_200.0  # 2026-12-01 08:00 Asia/Shanghai
ROLE = {"customer": Message.FROM_USER, "agent": Message.FROM_AGENT, "bot": Message.FROM_BOT}


@dataclass
class Desk:
    c: TestClient
    settings: Settings
    db: Database
    index: MessageIndex  # the archiver's writer; the app only reads the same directory

    def archive(self, msg_id: int, conv: str, role: str, text: str, at: float, tenant: str = "default",
                customer: str = "u1001", agent: int | None = None) -> None:  # fmt: skip
        """What the archiver does with one line: the sealed row, then the masked copy in the index."""
        data = {"role": role, "text": text, "customer": customer, "channel": "web"}
        if agent is not None:
            data["agent_id"] = agent
        event = StreamEvent(msg_id, "message", tenant, conv, at, data)
        key_id, sealed = cipher_from_settings(self.settings).seal(json.dumps({"text": text}, ensure_ascii=False)
                                                                  .encode(), f"{tenant}:{msg_id}".encode())  # fmt: skip
        with self.db.session() as s:
            s.add(Message(msg_id=msg_id, session_id=conversation_number(tenant, conv), tenant_id=tenant,
                          conversation_id=conv, channel="web", customer_ref=customer, sender_id=agent or 0,
                          sender_role=ROLE[role], msg_type=0, key_id=key_id, content=sealed,
                          created_at=dt.datetime.fromtimestamp(at, dt.UTC).replace(tzinfo=None)))  # fmt: skip
            s.commit()
        doc = indexed_from(event)
        assert doc is not None
        self.index.add([doc])

    def handled(self, conv: str, agent_id: int, session_id: int) -> None:
        with self.db.session() as s:
            s.add(Session(session_id=session_id, tenant_id="default", customer_id=1, agent_id=agent_id,
                          session_state=Session.CLOSED, conversation_id=conv, channel="web"))  # fmt: skip
            s.commit()


@pytest.fixture
def desk(env: dict[str, str]) -> Iterator[Desk]:
    settings = load_settings(env, {"message_search": {"reload_seconds": 0}})
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    index = create_message_index(settings)
    with TestClient(create_app(settings, Customers(), Clock(), run_clock=False)) as c:
        yield Desk(c, settings, db, index)
    index.close()
    db.dispose()


def uid(c: TestClient, headers: dict[str, str]) -> int:
    return int(c.get("/api/auth/me", headers=headers).json()["id"])


def conversation_lines(d: Desk) -> None:
    d.archive(11, "c1", "customer", "我要退款，电话13812345678", T0)
    d.archive(13, "c1", "bot", "已为您转人工客服", T0 + 1)
    d.archive(12, "c1", "customer", "订单还没发货", T0 + 1)  # same second as 13, smaller id: first
    d.archive(21, "c2", "customer", "退款多久到账", T0 + 86_400)
    d.archive(31, "c1", "customer", "acme 的退款", T0, tenant="acme")


def test_a_supervisor_finds_lines_and_opens_the_conversation(desk: Desk) -> None:
    c = desk.c
    boss = login(c, desk.settings, "boss", {"supervisor"})
    conversation_lines(desk)
    r = c.get("/api/agent/messages/search", params={"q": "退款"}, headers=boss)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and {h["msg_id"] for h in body["hits"]} == {"11", "21"}
    hit = next(h for h in body["hits"] if h["msg_id"] == "11")
    assert hit["conversation_id"] == "c1" and hit["role"] == "customer" and hit["customer"] == "u1001"
    assert "13812345678" not in hit["snippet"] and "<手机号>" in hit["snippet"]
    start, end = hit["highlights"][0]
    assert hit["snippet"][start:end] == "退款"
    # filters: customer, role, dates in the shop's time zone (to= includes that day)
    assert c.get("/api/agent/messages/search", params={"q": "退款", "from": "2026-12-02"},
                 headers=boss).json()["total"] == 1  # fmt: skip
    assert c.get("/api/agent/messages/search", params={"to": "2026-12-01"}, headers=boss).json()["total"] == 3
    assert c.get("/api/agent/messages/search", params={"role": "bot"}, headers=boss).json()["hits"][0]["msg_id"] == "13"
    assert c.get("/api/agent/messages/search", params={"customer": "u9"}, headers=boss).json()["total"] == 0
    # the result opens its conversation: the original lines, decrypted, in order
    r = c.get("/api/agent/conversations/c1/archive", headers=boss)
    assert r.status_code == 200, r.text
    lines = r.json()["lines"]
    assert [x["msg_id"] for x in lines] == ["11", "12", "13"]
    assert lines[0]["text"] == "我要退款，电话13812345678"  # the archive keeps the original, sealed
    assert [x["role"] for x in lines] == ["customer", "customer", "bot"]


def test_another_tenants_conversation_is_not_found(desk: Desk) -> None:
    c = desk.c
    conversation_lines(desk)
    acme = login(c, desk.settings, "acme-boss", {"supervisor"}, tenant="acme")
    assert c.get("/api/agent/conversations/c2/archive", headers=acme).status_code == 404
    r = c.get("/api/agent/conversations/c1/archive", headers=acme)  # acme's own c1: only its line
    assert [x["msg_id"] for x in r.json()["lines"]] == ["31"]
    found = c.get("/api/agent/messages/search", params={"q": "退款"}, headers=acme).json()
    assert [h["msg_id"] for h in found["hits"]] == ["31"]
    # the tenant comes from the token only: a tenant parameter changes nothing
    assert c.get("/api/agent/messages/search", params={"q": "退款", "tenant": "default"},
                 headers=acme).json()["total"] == 1  # fmt: skip
    boss = login(c, desk.settings, "boss", {"supervisor"})
    assert c.get("/api/agent/conversations/nope/archive", headers=boss).status_code == 404


def test_an_agent_finds_and_opens_only_what_they_handled(desk: Desk) -> None:
    c = desk.c
    wang = login(c, desk.settings, "wang", {"agent"})
    li = login(c, desk.settings, "li", {"agent"})
    conversation_lines(desk)
    desk.handled("c1", uid(c, wang), 501)
    desk.archive(22, "c2", "agent", "退款已经提交", T0 + 86_401, agent=uid(c, li))
    mine = c.get("/api/agent/messages/search", params={"q": "退款"}, headers=wang).json()
    assert {h["msg_id"] for h in mine["hits"]} == {"11"}
    theirs = c.get("/api/agent/messages/search", params={"q": "退款"}, headers=li).json()
    assert {h["msg_id"] for h in theirs["hits"]} == {"22"}  # their own line in a chat they never held
    assert c.get("/api/agent/conversations/c1/archive", headers=wang).status_code == 200
    assert c.get("/api/agent/conversations/c1/archive", headers=li).status_code == 403
    assert c.get("/api/agent/conversations/c2/archive", headers=li).status_code == 200  # they wrote in it
    # the agent filter by login, within the tenant
    boss = login(c, desk.settings, "b", {"supervisor"})
    r = c.get("/api/agent/messages/search", params={"agent": "li"}, headers=boss)
    assert [h["msg_id"] for h in r.json()["hits"]] == ["22"]


def test_refusals_and_bad_input(desk: Desk) -> None:
    c = desk.c
    conversation_lines(desk)
    assert c.get("/api/agent/messages/search", params={"q": "退款"}).status_code == 401
    kb = login(c, desk.settings, "kb", {"kb_admin"})
    assert c.get("/api/agent/messages/search", params={"q": "退款"}, headers=kb).status_code == 403
    assert c.get("/api/agent/conversations/c1/archive", headers=kb).status_code == 403
    boss = login(c, desk.settings, "boss", {"supervisor"})
    for params in ({"role": "robot"}, {"from": "yesterday"}, {"limit": "0"}, {"limit": "x"}, {"q": "退" * 201},
                   {"agent": "nobody"}):  # fmt: skip
        r = c.get("/api/agent/messages/search", params=params, headers=boss)
        assert r.status_code == 400 and "error" in r.json(), params
    for q in ('*', '*:*', '" OR ""="', "tenant:acme", "\\", '{"match_all": {}}'):
        r = c.get("/api/agent/messages/search", params={"q": q}, headers=boss)
        assert r.status_code == 200 and r.json()["total"] == 0, q


def test_the_search_page_is_served_with_the_inbox_policy(desk: Desk) -> None:
    r = desk.c.get("/inbox/search")
    assert r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
    assert desk.c.get("/inbox/search/static/search.js").headers["content-type"].startswith("application/javascript")
    assert desk.c.get("/inbox/search/static/../inbox.html").status_code == 404


def test_the_cli_searches_the_index_directly(desk: Desk, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    conversation_lines(desk)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    args = ["search", "退款", "--customer", "u1001", "--from", "2026-12-01", "--json"]
    result = CliRunner().invoke(messages_app, args)
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["total"] == 2 and {h["msg_id"] for h in found["hits"]} == {"11", "21"}
    acme = CliRunner().invoke(messages_app, ["search", "退款", "--tenant", "acme", "--json"])
    assert [h["msg_id"] for h in json.loads(acme.output)["hits"]] == ["31"]
    bad = CliRunner().invoke(messages_app, ["search", "退款", "--from", "someday"])
    assert bad.exit_code == 2 and "from must be a date" in bad.output
