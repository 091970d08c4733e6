"""The agent API and WebSocket, and the internal routes, over HTTP (Starlette's test client, real SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bot.security import Principal, issue_token, service_token
from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.users import UserService
from handoff.app import create_app

from .conftest import Clock, Customers


@pytest.fixture
def env_settings(env: dict[str, str]) -> Settings:
    return load_settings(env, {"handoff": {"working_hours": "00:00-24:00", "offer_seconds": 20}})


@pytest.fixture
def api(env_settings: Settings) -> Iterator[tuple[TestClient, Customers, Settings]]:
    migrate.upgrade(Database.from_settings(env_settings).engine)
    customers = Customers()
    with TestClient(create_app(env_settings, customers, Clock(), run_clock=False)) as c:
        yield c, customers, env_settings


def login(c: TestClient, settings: Settings, name: str, roles: set[str], tenant: str = "default") -> dict[str, str]:
    users = UserService(Database.from_settings(settings))
    u = users.create(tenant, name, f"客服{name}", roles, "password-123")
    token = c.post("/api/auth/login", json={"tenant": tenant, "login": name, "password": "password-123"}).json()
    assert token["user"]["id"] == str(u.user_id)
    return {"Authorization": f"Bearer {token['token']}"}


def service(settings: Settings, tenant: str = "default") -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token(settings.keyring, tenant, 'test', 600)}"}


def ask(c: TestClient, settings: Settings, conv: str, text: str = "转人工") -> dict:
    r = c.post("/internal/handoff", headers=service(settings), json={
        "conversation_id": conv, "channel": "rest", "customer": {"id": conv, "name": "小李", "tags": ["vip"]},
        "intent": "request_human", "text": text})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def test_round_trip_over_http_and_the_websocket(api: tuple[TestClient, Customers, Settings]) -> None:
    c, customers, settings = api
    agent = login(c, settings, "xiaowang", {"agent"})
    assert c.post("/api/agent/heartbeat", headers=agent).status_code == 204
    token = agent["Authorization"].split()[1]
    with c.websocket_connect(f"/api/agent/ws?token={token}") as ws:
        ticket = ask(c, settings, "c1")
        assert ticket["on_duty"] and ticket["position"] == 1
        offer = json.loads(ws.receive_text())
        assert offer["kind"] == "offer" and offer["session"]["customer"]["tags"] == ["vip"]
        accepted = c.post(f"/api/agent/offers/{offer['offer_id']}/accept", headers=agent)
        assert accepted.status_code == 200 and accepted.json()["state"] == "active"
        assert json.loads(ws.receive_text())["state"] == "active"
        relayed = c.post(
            "/internal/events",
            headers=service(settings),
            json={"events": [{"conversation_id": "c1", "text": "东西坏了", "intent": "inform"}]},
        )
        assert relayed.json() == {"relayed": 1}
        msg = json.loads(ws.receive_text())
        assert msg["kind"] == "message" and msg["message"]["text"] == "东西坏了"
        sid = offer["session"]["id"]
        sent = c.post(f"/api/agent/sessions/{sid}/messages", headers=agent, json={"text": "给您补发一个"})
        assert sent.status_code == 200 and customers.texts("c1")[-1] == "给您补发一个"
        last_seq = json.loads(ws.receive_text())["seq"]
        assert c.post(f"/api/agent/sessions/{sid}/close", headers=agent, json={"summary": "补发"}).json()["state"] \
            == "closed"  # fmt: skip
    # reconnecting with the last cursor: only what came after
    with c.websocket_connect(f"/api/agent/ws?token={token}&cursor={last_seq}") as ws:
        after = json.loads(ws.receive_text())
        assert after["seq"] > last_seq and after["state"] == "closed"
    detail = c.get(f"/api/agent/sessions/{sid}", headers=agent).json()
    assert [m["text"] for m in detail["messages"]] == ["东西坏了", "给您补发一个"]
    assert c.post("/internal/csat", headers=service(settings), json={"conversation_id": "c1", "score": 5}).json() \
        == {"recorded": True}  # fmt: skip


def test_agent_api_refuses_what_it_should(api: tuple[TestClient, Customers, Settings]) -> None:
    c, _, settings = api
    agent = login(c, settings, "a1", {"agent"})
    other = login(c, settings, "a2", {"agent"})
    kb_admin = login(c, settings, "k1", {"kb_admin"})
    assert c.get("/api/agent/queue").status_code == 401
    assert c.get("/api/agent/queue", headers=kb_admin).status_code == 403
    assert c.get("/api/agent/queue", headers=service(settings)).status_code == 401  # another audience
    assert c.post("/internal/handoff", headers=agent, json={}).status_code == 401
    c.post("/api/agent/heartbeat", headers=agent)
    ask(c, settings, "c1")
    sid = c.get("/api/agent/queue", headers=agent).json()["items"][0]["id"]
    assert c.post(f"/api/agent/sessions/{sid}/take", headers=agent).status_code == 200
    assert c.post(f"/api/agent/sessions/{sid}/messages", headers=other, json={"text": "hi"}).status_code == 403
    assert c.post("/api/agent/sessions/123/messages", headers=agent, json={"text": "hi"}).status_code == 404
    assert c.post("/api/agent/sessions/abc/messages", headers=agent, json={"text": "hi"}).status_code == 400
    assert c.post(f"/api/agent/sessions/{sid}/messages", headers=agent, json={"text": ""}).status_code == 400
    assert c.post(f"/api/agent/sessions/{sid}/messages", headers=agent, json={"text": "长" * 3000}).status_code == 400
    assert c.post(f"/api/agent/sessions/{sid}/take", headers=agent).status_code == 409  # not waiting any more
    foreign = {
        "Authorization": "Bearer " + issue_token(settings.keyring, Principal(1, "acme", frozenset({"supervisor"})), 600)
    }
    assert c.get(f"/api/agent/sessions/{sid}", headers=foreign).status_code == 404
    assert c.post("/api/agent/availability", headers=agent, json={"available": "yes"}).status_code == 400
    assert c.post("/api/agent/availability", headers=agent, json={"available": False}).json() == {"status": "busy"}


def test_websocket_needs_a_token_and_is_closed_when_it_floods(api: tuple[TestClient, Customers, Settings]) -> None:
    c, _, settings = api
    agent = login(c, settings, "a1", {"agent"})
    with pytest.raises(WebSocketDisconnect), c.websocket_connect("/api/agent/ws?token=nonsense") as ws:
        ws.receive_text()
    token = agent["Authorization"].split()[1]
    with c.websocket_connect(f"/api/agent/ws?token={token}") as ws:
        for _ in range(25):
            ws.send_text(json.dumps({"type": "ping"}))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008


def test_assist_finds_the_customers_question_and_says_when_the_knowledge_base_is_away(
        api: tuple[TestClient, Customers, Settings]) -> None:  # fmt: skip
    c, _, settings = api  # no knowledge service runs here: the panel says so, the chat goes on
    agent = login(c, settings, "xiaozhao", {"agent"})
    other = login(c, settings, "xiaoqian", {"agent"})
    c.post("/api/agent/heartbeat", headers=agent)
    ask(c, settings, "c-assist")
    sid = c.get("/api/agent/queue", headers=agent).json()["items"][0]["id"]
    assert c.post(f"/api/agent/sessions/{sid}/take", headers=agent).status_code == 200
    c.post("/internal/events", headers=service(settings),
           json={"events": [{"conversation_id": "c-assist", "text": "衣服洗了掉色能退吗", "intent": "inform"},
                            {"conversation_id": "c-assist", "text": "人工！", "intent": "request_human"}]})  # fmt: skip
    r = c.get(f"/api/agent/sessions/{sid}/assist", headers=agent)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "衣服洗了掉色能退吗" and body["answers"] == [] and body["error"] == "知识库暂时不可用"
    assert body["summary"]["source"] == "extractive"
    assert c.get(f"/api/agent/sessions/{sid}/assist", headers=other).status_code == 403
    assert c.get("/api/agent/sessions/123/assist", headers=agent).status_code == 404
    assert c.get(f"/api/agent/sessions/{sid}/assist").status_code == 401


def test_a_supervisor_sees_todays_counts_reassigns_and_force_closes(
        api: tuple[TestClient, Customers, Settings]) -> None:  # fmt: skip
    c, customers, settings = api
    boss = login(c, settings, "zhuguan", {"supervisor"})
    first, second = login(c, settings, "xiaoli", {"agent"}), login(c, settings, "xiaoma", {"agent"})
    ids = {n: c.get("/api/auth/me", headers=h).json()["id"] for n, h in (("first", first), ("second", second))}
    c.post("/api/agent/heartbeat", headers=first)
    c.post("/api/agent/heartbeat", headers=second)
    for conv in ("s1", "s2", "s3"):
        ask(c, settings, conv)
    queue = c.get("/api/agent/queue", headers=boss).json()["items"]
    assert c.post(f"/api/agent/sessions/{queue[0]['id']}/take", headers=boss,
                  json={"agent_id": ids["first"]}).json()["agent_id"] == ids["first"]  # fmt: skip
    left = {"conversation_id": queue[1]["conversation_id"], "text": "不用了", "intent": "deny"}
    c.post("/internal/events", headers=service(settings), json={"events": [left]})
    over = c.get("/api/agent/overview", headers=boss).json()
    assert over["today"] | {"avg_wait_seconds": None} == {
        "requests": 3, "served": 1, "abandoned": 1, "waiting": 1, "closed": 1, "avg_wait_seconds": None,
        "avg_first_response_seconds": None, "csat_avg": None, "csat_count": 0}  # fmt: skip
    assert [(s["id"], s["agent_name"]) for s in over["sessions"]] == [(queue[0]["id"], "客服xiaoli")]
    # reassign an active chat to another agent, then end it as the supervisor: the customer is told both
    sid = queue[0]["id"]
    moved = c.post(f"/api/agent/sessions/{sid}/transfer", headers=boss,
                   json={"agent_id": ids["second"], "note": "她熟悉"})  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "waiting"  # offered to the second agent, who may accept or decline
    given = c.post(f"/api/agent/sessions/{sid}/take", headers=boss, json={"agent_id": ids["second"]})
    assert given.json()["agent_id"] == ids["second"] and given.json()["state"] == "active"
    assert c.get(f"/api/agent/sessions/{sid}/assist", headers=first).status_code == 403
    forced = c.post(f"/api/agent/sessions/{sid}/close", headers=boss, json={"summary": "主管结束：重复会话"})
    assert forced.json()["state"] == "closed" and forced.json()["summary"] == "主管结束：重复会话"
    assert c.get("/api/agent/overview", headers=boss).json()["today"]["closed"] == 2
    assert c.get("/api/agent/overview", headers=first).status_code == 403
    assert any("转接" in t or "同事" in t for t in customers.texts(queue[0]["conversation_id"]))


def test_agents_send_images_and_pdfs_by_signed_links_and_customers_files_reach_them(
        api: tuple[TestClient, Customers, Settings]) -> None:  # fmt: skip
    from tests.bot.test_files import PDF_OK, jpeg_with_gps

    c, customers, settings = api
    agent = login(c, settings, "xiaofang", {"agent"})
    c.post("/api/agent/heartbeat", headers=agent)
    ask(c, settings, "c-files")
    sid = c.get("/api/agent/queue", headers=agent).json()["items"][0]["id"]
    c.post(f"/api/agent/sessions/{sid}/take", headers=agent)

    up = c.post("/api/agent/files?name=发票.pdf", headers=agent, content=PDF_OK)
    assert up.status_code == 200, up.text
    pdf = up.json()
    assert pdf["content_type"] == "application/pdf" and pdf["name"] == "发票.pdf"
    path = pdf["url"].split("://", 1)[1].split("/", 1)[1]
    served = c.get("/" + path)
    assert served.content == PDF_OK and served.headers["content-type"] == "application/pdf"
    assert (
        served.headers["x-content-type-options"] == "nosniff" and "sandbox" in served.headers["content-security-policy"]
    )
    assert c.get("/" + path.replace("sig=", "sig=x")).status_code == 404
    sent = c.post(
        f"/api/agent/sessions/{sid}/messages", headers=agent, json={"file": {"url": pdf["url"], "name": "发票.pdf"}}
    )
    assert sent.status_code == 200 and sent.json()["message"]["file"]["url"] == pdf["url"]
    line = customers.lines["c-files"][-1][1]
    assert line["custom"] == {"file": {"url": pdf["url"], "name": "发票.pdf", "content_type": "application/pdf"}}

    photo = c.post("/api/agent/files?name=a.jpg", headers=agent, content=jpeg_with_gps()).json()
    c.post(
        f"/api/agent/sessions/{sid}/messages",
        headers=agent,
        json={"text": "您看是这个吗", "file": {"url": photo["url"]}},
    )
    assert customers.lines["c-files"][-1][1]["image"] == photo["url"]

    # refused: not a file, too big, a link that is not ours or not this shop's
    assert c.post("/api/agent/files?name=x.jpg", headers=agent, content=b"MZ" + b"\0" * 99).status_code == 400
    assert (
        c.post("/api/agent/files", headers=agent, content=b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024)).status_code
        == 413
    )
    assert c.post("/api/agent/files", content=PDF_OK).status_code == 401
    for bad in ({"url": "https://evil.example/files/x.jpg"}, {"url": pdf["url"].replace("default/", "shop2/")}, "x"):
        r = c.post(f"/api/agent/sessions/{sid}/messages", headers=agent, json={"file": bad})
        assert r.status_code == 400, bad

    # what the customer sent (the broker relays the link with the /send_file payload): the agent sees the file
    events = [
        {"conversation_id": "c-files", "text": "/send_file", "intent": "send_file", "file": {"url": photo["url"]}},
        {"conversation_id": "c-files", "text": "/send_file", "file": {"url": "https://evil.example/a.jpg"}},
    ]
    c.post("/internal/events", headers=service(settings), json={"events": events})
    msgs = c.get(f"/api/agent/sessions/{sid}", headers=agent).json()["messages"]
    mine = [m for m in msgs if m["from"] == "customer"]
    assert mine[-2] == {**mine[-2], "text": "", "image_url": photo["url"]}
    assert mine[-1]["text"] == "/send_file" and "image_url" not in mine[-1]  # a link not ours: text only
