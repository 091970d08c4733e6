"""A customer reaches a person, through the real platform: Rasa, the action server, the event broker, the
handoff service, two agents on their WebSockets. Customer asks the bot → 转人工 → queued, position told →
an agent accepts → three messages each way → transfer with a note → the second agent closes → CSAT → the bot
answers the next question. Every message is counted on both sides and in the Rasa tracker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from bot.settings import load_settings
from bot.storage.db import Database
from bot.users import UserService

from ..platform import Platform, start_platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = start_platform(tmp_path_factory.mktemp("handoff"), extra_env={
        "CSBOT_HANDOFF__WORKING_HOURS": "00:00-24:00", "CSBOT_HANDOFF__OFFER_SECONDS": "30"})  # fmt: skip
    yield p
    p.stop()


class Agent:
    def __init__(self, p: Platform, login: str) -> None:
        self.base = f"http://127.0.0.1:{p.ports['handoff']}"
        UserService(Database.from_settings(load_settings(p.env))).create("default", login, f"客服{login}",
                                                                          {"agent"}, "password-123")  # fmt: skip
        got = httpx.post(f"{self.base}/api/auth/login", json={"login": login, "password": "password-123"}).json()
        self.token, self.id, self.name = got["token"], got["user"]["id"], got["user"]["name"]
        self.h = {"Authorization": f"Bearer {self.token}"}
        assert httpx.post(f"{self.base}/api/agent/heartbeat", headers=self.h).status_code == 204
        self.ws: ClientConnection = connect(f"ws://127.0.0.1:{p.ports['handoff']}/api/agent/ws?token={self.token}")
        self.seen: list[dict[str, Any]] = []

    def next(self, kind: str, timeout: float = 20, sender: str | None = None) -> dict[str, Any]:
        """The next pushed item of ``kind`` (for messages: from ``sender``; the agent's own come back too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.seen.append(item)
            if item["kind"] == kind and (sender is None or item["message"]["from"] == sender):
                return item
        raise AssertionError(f"no {kind} for {self.name}; saw {[i['kind'] for i in self.seen]}")

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(f"{self.base}/api/agent{path}", json=body or {}, headers=self.h, timeout=30)


class Customer:
    def __init__(self, p: Platform, who: str) -> None:
        self.p, self.who, self.since = p, who, 0.0
        self.h = {"Authorization": f"Bearer {p.customer_token(who)}"}
        self.conversation = f"default:{who}"

    def say(self, text: str) -> list[dict[str, Any]]:
        r = httpx.post(f"{self.p.rasa_url}/webhooks/rest/webhook", json={"sender": self.who, "message": text},
                       headers=self.h, timeout=30)  # fmt: skip
        assert r.status_code == 200, r.text
        return list(r.json())

    def inbox(self, until: str, timeout: float = 20) -> list[dict[str, Any]]:
        """What was said to the customer since the last look (GET /webhooks/rest/messages), until a line with
        ``until`` arrives."""
        deadline, got = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            r = httpx.get(f"{self.p.rasa_url}/webhooks/rest/messages", params={"since": self.since},
                          headers=self.h, timeout=10)  # fmt: skip
            assert r.status_code == 200, r.text
            for m in r.json():
                got.append(m)
                self.since = max(self.since, m["at"])
            if any(until in m["text"] for m in got):
                return got
            time.sleep(0.5)  # a polite app polls about once a second
        raise AssertionError(f"customer never got {until!r}; got {[m['text'] for m in got]}")


def test_nobody_on_duty_means_a_message_is_taken(desk: Platform) -> None:
    c = Customer(desk, f"c-{uuid.uuid4().hex[:6]}")
    reply = [m["text"] for m in c.say("人工")]
    assert any("留言" in t for t in reply)
    assert "留言已收到" in c.say("杯子碎了 想补发 下午都在")[0]["text"]
    from sqlalchemy import select

    from handoff.models import LeftMessage

    with Database.from_settings(load_settings(desk.env)).session() as s:
        left = s.scalar(select(LeftMessage).where(LeftMessage.conversation_id == c.conversation))
        assert left is not None and left.text == "杯子碎了 想补发 下午都在"


def test_a_customer_reaches_a_person_and_comes_back_to_the_bot(desk: Platform) -> None:
    a1, a2 = Agent(desk, "xiaowang"), Agent(desk, "xiaoli")
    c = Customer(desk, f"c-{uuid.uuid4().hex[:6]}")
    assert "帮您" in c.say("在吗")[0]["text"]
    queued = c.say("转人工")
    assert "前面还有 0 位" in queued[-1]["text"]
    c.since = time.time()

    # the longest-idle agent gets the offer; the other gets nothing
    offer = a1.next("offer")
    assert offer["session"]["customer"]["id"] == c.who
    assert a1.post(f"/offers/{offer['offer_id']}/accept").json()["state"] == "active"
    assert a1.name in c.inbox(until=a1.name)[-1]["text"]
    sid = offer["session"]["id"]

    # before the agent answers, they see what the customer told the bot
    context = httpx.get(f"{a1.base}/api/agent/sessions/{sid}", headers=a1.h).json()
    assert [m["text"] for m in context["conversation"] if m["from"] == "customer"][:2] == ["在吗", "转人工"]

    said = ["收到的杯子裂了", "订单250316084512367890", "能补发吗"]
    replies = ["抱歉给您添麻烦了", "我查一下这个订单", "可以补发，今天发出"]
    for mine, theirs in zip(said, replies, strict=True):
        assert c.say(mine) == []  # the bot stays quiet while a person handles the chat
        assert a1.next("message", sender="customer")["message"]["text"] == mine
        assert a1.post(f"/sessions/{sid}/messages", {"text": theirs}).status_code == 200
        got = c.inbox(until=theirs)
        assert got[-1]["agent"]["name"] == a1.name

    moved = a1.post(f"/sessions/{sid}/transfer", {"agent_id": a2.id, "note": "需要补发，地址没变"})
    assert moved.status_code == 200 and moved.json()["state"] == "waiting"
    assert "正在为您转接" in c.inbox(until="正在为您转接")[-1]["text"]
    offer2 = a2.next("offer")
    assert offer2["session"]["transfer_note"] == "需要补发，地址没变"
    assert a2.post(f"/offers/{offer2['offer_id']}/accept").status_code == 200
    assert a1.post(f"/sessions/{sid}/messages", {"text": "我还在"}).status_code in (403, 409)  # not theirs now
    closed = a2.post(f"/sessions/{sid}/close", {"summary": "补发一个杯子"})
    assert closed.json()["state"] == "closed" and closed.json()["summary"] == "补发一个杯子"
    csat = c.inbox(until="打个分")[-1]
    assert csat["buttons"][0]["title"] == "5 分"

    assert "谢谢您的评价" in c.say(csat["buttons"][0]["payload"])[0]["text"]
    assert "参考" in "".join(m["text"] for m in c.say("支持花呗吗"))  # the bot is back

    tracker = httpx.get(f"{desk.rasa_url}/conversations/{c.conversation}/tracker", headers=desk.rasa_api()).json()
    users = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    agents = [e["text"] for e in tracker["events"] if e["event"] == "bot" and (e.get("metadata") or {}).get("agent")]
    for m in said:
        assert users.count(m) == 1
    # the first agent's greeting, their three replies in order, each once, then the second agent's greeting
    assert agents[1:4] == replies and a1.name in agents[0] and a2.name in agents[4] and len(agents) == 5
    assert [i["message"]["text"] for i in a1.seen if i["kind"] == "message" and i["message"]["from"] == "customer"] \
        == said  # fmt: skip
    for a in (a1, a2):  # off duty: the next tests' customers go to their own agents
        assert a.post("/availability", {"available": False}).status_code == 200
        a.ws.close()
    assert_archived(desk, c.conversation, tracker["events"])


def assert_archived(p: Platform, conversation: str, events: list[dict[str, Any]]) -> None:
    """The archive holds every line the tracker holds, once, in order, sealed; and the session's state
    changes went to the stream in the same transactions."""
    from sqlalchemy import select, text

    from bot.crypto import cipher_from_settings
    from bot.storage.models import Message
    from bot.storage.sealed import OUTBOX
    from handoff.archive.archiver import aad

    settings = load_settings(p.env)
    lines = [("agent" if (e.get("metadata") or {}).get("agent") else e["event"], e["text"]) for e in events
             if e["event"] in ("user", "bot") and e.get("text") and e["text"] != "/send_file"]  # fmt: skip
    cipher, db = cipher_from_settings(settings), Database.from_settings(settings)
    role = {0: "user", 1: "agent", 2: "bot"}
    deadline, got = time.monotonic() + 15, []
    while time.monotonic() < deadline:
        with db.session() as s:
            rows = s.scalars(select(Message).where(Message.conversation_id == conversation)
                             .order_by(Message.created_at, Message.msg_id)).all()  # fmt: skip
            got = [(role[r.sender_role], json.loads(cipher.open(r.key_id, r.content, aad(r.tenant_id, r.msg_id)))
                    .get("text", "")) for r in rows]  # fmt: skip
        if len(got) >= len(lines):
            break
        time.sleep(0.5)
    assert got == lines
    with db.engine.connect() as conn:
        changes = conn.execute(text("SELECT tenant_id, event_id, body FROM cs_outbox WHERE kind = 'session' "
                                    "AND stream_key = :k ORDER BY seq"), {"k": conversation}).all()  # fmt: skip
    assert all(r.body.startswith("enc:v1:") for r in changes)  # sealed at rest (bot.events.outbox)
    assert [json.loads(OUTBOX.open(cipher, r.body, r._mapping))["data"]["event"] for r in changes] == [
        "queued", "agent_assigned", "transfer", "agent_assigned", "agent_end"]  # fmt: skip
    db.dispose()




class WebCustomer:
    """A browser-less web chat customer: python-socketio speaking the channel's protocol."""

    def __init__(self, p: Platform, token: str | None = None, origin: str | None = None,
                 customer_token: str | None = None) -> None:  # fmt: skip
        import queue

        import socketio

        self.got: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        for event in ("bot_uttered", "session_confirm", "csbot_history", "csbot_echo"):
            self.sio.on(event, lambda data, event=event: self.got.put((event, data)))
        self.sio.connect(p.rasa_url, socketio_path="/socket.io", transports=["websocket"],
                         headers={"Origin": origin} if origin else {},
                         auth={"customer_token": customer_token} if customer_token else None)  # fmt: skip
        self.sio.emit("session_request", {"session_token": token, "since": 0})
        confirm = self.next("session_confirm")
        self.session, self.token = confirm["session_id"], confirm["session_token"]
        self.history = self.next("csbot_history")["items"]

    def next(self, event: str, contains: str = "", timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got, data = self.got.get(timeout=max(0.1, deadline - time.monotonic()))
            if got == event and contains in ((data.get("text") or "") if isinstance(data, dict) else ""):
                return data
        raise AssertionError(f"no {event} with {contains!r}")

    def say(self, text: str, session: str | None = None) -> None:
        self.sio.emit("user_uttered", {"message": text, "session_id": session or self.session})

    def close(self) -> None:
        self.sio.disconnect()


def test_a_web_customer_on_socketio_hears_the_agent_live(desk: Platform) -> None:
    web = WebCustomer(desk)
    agent = Agent(desk, f"web-{uuid.uuid4().hex[:4]}")
    try:
        assert web.session.startswith("w-") and web.history == []
        web.say("转人工")
        web.next("bot_uttered", "前面还有")
        offer = agent.next("offer")
        assert offer["session"]["channel"] == "socketio"
        agent.post(f"/offers/{offer['offer_id']}/accept")
        hello = web.next("bot_uttered", agent.name)  # pushed to the browser with no request of its own
        assert hello["metadata"]["agent"]["name"] == agent.name
        web.say("网页上能看到吗")
        assert agent.next("message", sender="customer")["message"]["text"] == "网页上能看到吗"
        agent.post(f"/sessions/{offer['session']['id']}/messages", {"text": "能看到，您说"})
        web.next("bot_uttered", "能看到，您说")

        # a second tab, resuming by the signed token: the whole conversation, then the other tab's lines live
        tab = WebCustomer(desk, token=web.token)
        assert tab.session == web.session
        texts = [i["text"] for i in tab.history]
        assert texts.index("转人工") < texts.index("网页上能看到吗") < texts.index("能看到，您说")
        assert [i for i in tab.history if i["from"] == "agent"][-1]["metadata"]["agent"]["name"] == agent.name
        web.say("两个页面都在")
        assert tab.next("csbot_echo")["text"] == "两个页面都在"
        tab.close()

        agent.post(f"/sessions/{offer['session']['id']}/close", {"summary": "web"})
        assert web.next("bot_uttered", "打个分").get("quick_replies")  # buttons arrive as quick replies
    finally:
        web.close()
        agent.post("/availability", {"available": False})
        agent.ws.close()


def test_a_web_session_is_joined_only_with_its_signed_token(desk: Platform) -> None:
    import socketio

    victim = WebCustomer(desk)
    victim.say("我的手机号13800001111")
    victim.next("bot_uttered")
    forged = victim.token[:-4] + ("AAAA" if not victim.token.endswith("AAAA") else "BBBB")
    for token in (None, forged, "not-a-token"):
        intruder = WebCustomer(desk, token=token)
        try:
            assert intruder.session != victim.session and intruder.history == []
            intruder.say("把他的聊天给我", session=victim.session)  # naming the victim's room does nothing
            assert intruder.next("bot_uttered")["metadata"]["notice"] == "no_session"
            intruder.sio.emit("session_request", {"session_id": victim.session, "since": 0})
            assert intruder.next("session_confirm")["session_id"] != victim.session
        finally:
            intruder.close()
    with pytest.raises(socketio.exceptions.ConnectionError):
        WebCustomer(desk, origin="https://evil.example")
    with pytest.raises(socketio.exceptions.ConnectionError):
        WebCustomer(desk, customer_token=desk.customer_token("u1001")[:-3] + "xyz")
    # a logged-in customer's conversation comes from the shop's token, whatever the browser says
    shopper = WebCustomer(desk, customer_token=desk.customer_token("u1001"))
    assert shopper.session == "default:u1001"
    shopper.say("x" * 100_000)
    assert shopper.next("bot_uttered")["metadata"]["notice"] == "too_long"
    shopper.close()
    victim.close()
