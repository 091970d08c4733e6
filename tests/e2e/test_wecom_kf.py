"""WeCom 微信客服 (kf) through the real platform, against a local fake of WeCom's API (an outside service faked at
its wire boundary): the URL check, a callback that only says "pull", messages pulled from a cursor and answered
with kf/send_msg, WeCom's repeated callbacks making one turn, a tapped menu line read as its choice, the
greeting with the enter_session code, and a customer handed to an agent and back. Callbacks are signed and
encrypted with the official algorithm, the corp id as the receive id."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from channels.wechat import crypto, wxml

from ..actions.conftest import serve_in_thread
from ..platform import Platform, start_platform
from .test_handoff import Agent

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

TOKEN, AES, CORP = "csbot-kf-token", "kWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "ww0123456789abcdef"
KEY = crypto.aes_key(AES)
KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"


class FakeWeCom:
    """WeCom's API servers, faked: gettoken, kf/sync_msg (what customers sent, after a cursor), kf/send_msg,
    kf/send_msg_on_event."""

    def __init__(self) -> None:
        self.tokens = 0
        self.inbox: list[dict[str, Any]] = []  # every message ever sent to the kf account, in order
        self.sent: list[dict[str, Any]] = []
        self.greetings: list[dict[str, Any]] = []
        self.pulls: list[str] = []  # the cursors asked with

    def receive(self, external: str, msgtype: str = "text", **content: Any) -> str:
        msgid = f"msg-{uuid.uuid4().hex[:12]}"
        item = {"msgid": msgid, "open_kfid": KFID, "send_time": int(time.time()), "msgtype": msgtype,
                "origin": 3 if msgtype != "event" else 4, msgtype: content.get(msgtype, content)}  # fmt: skip
        if msgtype != "event":  # an event names the customer inside it (as WeCom sends them)
            item["external_userid"] = external
        self.inbox.append(item)
        return msgid

    def to(self, external: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["touser"] == external]

    def app(self) -> Starlette:
        def authorised(request: Request) -> bool:
            return request.query_params.get("access_token") == f"kf-tok-{self.tokens}"

        async def gettoken(request: Request) -> JSONResponse:
            if request.query_params.get("corpid") != CORP or request.query_params.get("corpsecret") != "kf-secret":
                return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
            self.tokens += 1
            return JSONResponse({"errcode": 0, "access_token": f"kf-tok-{self.tokens}", "expires_in": 7200})

        async def sync_msg(request: Request) -> JSONResponse:
            if not authorised(request):
                return JSONResponse({"errcode": 40014, "errmsg": "invalid access_token"})
            body = await request.json()
            cursor = str(body.get("cursor") or "")
            self.pulls.append(cursor)
            start = int(cursor) if cursor.isdigit() else 0
            page = self.inbox[start:start + 2]  # small pages: has_more is exercised
            return JSONResponse({"errcode": 0, "next_cursor": str(start + len(page)),
                                 "has_more": int(start + len(page) < len(self.inbox)), "msg_list": page})  # fmt: skip

        async def send_msg(request: Request) -> JSONResponse:
            if not authorised(request):
                return JSONResponse({"errcode": 40014, "errmsg": "invalid access_token"})
            body = await request.json()
            if body.get("open_kfid") != KFID:
                return JSONResponse({"errcode": 95000, "errmsg": "invalid open_kfid"})
            self.sent.append(body)
            return JSONResponse({"errcode": 0, "msgid": f"out-{len(self.sent)}"})

        async def on_event(request: Request) -> JSONResponse:
            self.greetings.append(await request.json())
            return JSONResponse({"errcode": 0, "msgid": "welcome"})

        return Starlette(routes=[Route("/cgi-bin/gettoken", gettoken),
                                 Route("/cgi-bin/kf/sync_msg", sync_msg, methods=["POST"]),
                                 Route("/cgi-bin/kf/send_msg", send_msg, methods=["POST"]),
                                 Route("/cgi-bin/kf/send_msg_on_event", on_event, methods=["POST"])])  # fmt: skip


@pytest.fixture(scope="module")
def wecom() -> Iterator[FakeWeCom]:
    fake = FakeWeCom()
    with serve_in_thread(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, wecom: FakeWeCom) -> Iterator[Platform]:
    p = start_platform(tmp_path_factory.mktemp("kf"), extra_env={
        "CSBOT_WECOM_KF__TOKEN": TOKEN, "CSBOT_WECOM_KF__AES_KEY": AES, "CSBOT_WECOM_KF__CORP_ID": CORP,
        "CSBOT_WECOM_KF__SECRET": "kf-secret", "CSBOT_WECOM_KF__API_BASE": wecom.url,  # type: ignore[attr-defined]
        "CSBOT_HANDOFF__WORKING_HOURS": "00:00-24:00"})  # fmt: skip
    yield p
    p.stop()


def callback(p: Platform, corp: str = CORP, stamp: int | None = None, signature: str | None = None) -> httpx.Response:
    """What WeCom posts when something arrived: an encrypted kf_msg_or_event carrying a pull token."""
    inner = wxml.build({"ToUserName": corp, "CreateTime": int(time.time()), "MsgType": "event",
                        "Event": "kf_msg_or_event", "Token": "ENC-pull-token", "OpenKfId": KFID})  # fmt: skip
    cipher = crypto.encrypt(inner, KEY, corp)
    ts, nonce = str(stamp or int(time.time())), "1372623149"
    sig = signature or crypto.signature(TOKEN, ts, nonce, cipher)
    body = wxml.build({"ToUserName": CORP, "Encrypt": cipher, "AgentID": ""})
    return httpx.post(f"{p.rasa_url}/webhooks/wecom_kf/webhook", params={"msg_signature": sig, "timestamp": ts,
                      "nonce": nonce}, content=body.encode(), timeout=10)  # fmt: skip


def customer() -> str:
    return f"wm{uuid.uuid4().hex[:20]}"


def wait_for(fn: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def text_of(m: dict[str, Any]) -> str:
    return str(m.get("text", {}).get("content") or m.get("msgmenu", {}).get("head_content") or "")


def test_the_url_check_answers_the_decrypted_echostr(platform: Platform) -> None:
    echo = crypto.encrypt("echo-4791", KEY, CORP)
    ts, nonce = str(int(time.time())), "42"
    ok = httpx.get(f"{platform.rasa_url}/webhooks/wecom_kf/webhook", params={
        "msg_signature": crypto.signature(TOKEN, ts, nonce, echo), "timestamp": ts, "nonce": nonce, "echostr": echo})
    assert ok.status_code == 200 and ok.text == "echo-4791"
    bad = httpx.get(f"{platform.rasa_url}/webhooks/wecom_kf/webhook", params={
        "msg_signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": echo})
    assert bad.status_code == 403


def test_a_message_is_pulled_answered_once_and_its_menu_tapped(platform: Platform, wecom: FakeWeCom) -> None:
    who = customer()
    wecom.receive(who, text={"content": "250316084512367890"})
    assert callback(platform).text == "success"
    assert callback(platform).text == "success"  # WeCom calls again: the same message is not answered twice
    menu = wait_for(lambda: [m for m in wecom.to(who) if m["msgtype"] == "msgmenu"])
    assert [i["click"]["content"] for i in menu[0]["msgmenu"]["list"]][:2] == ["查订单状态", "查物流"]
    time.sleep(1)
    assert len(wecom.to(who)) == 1
    wecom.receive(who, text={"content": "查订单状态", "menu_id": "1"})  # the customer taps the first line
    callback(platform)
    status = wait_for(lambda: [m for m in wecom.to(who)[1:]])
    assert "当前状态" in text_of(status[0])
    assert wecom.pulls[-1] != ""  # the cursor moves on: nothing is pulled twice


def test_the_greeting_goes_with_the_enter_session_code(platform: Platform, wecom: FakeWeCom) -> None:
    who = customer()
    wecom.receive(who, "event", event_type="enter_session", open_kfid=KFID, external_userid=who,
                  welcome_code="WELCOME-CODE-1")  # fmt: skip
    callback(platform)
    hello = wait_for(lambda: [g for g in wecom.greetings if g["code"] == "WELCOME-CODE-1"])
    assert hello[0]["text"]["content"]


def test_a_kf_customer_reaches_an_agent_and_back(platform: Platform, wecom: FakeWeCom) -> None:
    agent = Agent(platform, f"kf-{uuid.uuid4().hex[:4]}")
    who = customer()
    try:
        wecom.receive(who, text={"content": "转人工"})
        callback(platform)
        offer = agent.next("offer")
        assert offer["session"]["channel"] == "wecom_kf" and offer["session"]["customer"]["id"] == f"kf-{who}"
        agent.post(f"/offers/{offer['offer_id']}/accept")
        sid = offer["session"]["id"]
        assert not agent.post(f"/sessions/{sid}/messages", {"text": "您好 我是客服小王"}).json()["message"].get(
            "undelivered")
        wait_for(lambda: [m for m in wecom.to(who) if "客服小王" in text_of(m)])
        wecom.receive(who, text={"content": "衣服洗了缩水"})
        callback(platform)
        assert agent.next("message", sender="customer")["message"]["text"] == "衣服洗了缩水"
        detail = httpx.get(f"{agent.base}/api/agent/sessions/{sid}", headers=agent.h).json()
        assert detail["reply_quota"]["remaining"] == 5  # the customer wrote after the agent's line
        agent.post(f"/sessions/{sid}/close", {"summary": "缩水"})
        csat = wait_for(lambda: [m for m in wecom.to(who) if m["msgtype"] == "msgmenu" and "打个分" in text_of(m)])
        assert [i["click"]["content"] for i in csat[0]["msgmenu"]["list"]] == ["5 分", "4 分", "3 分", "2 分", "1 分"]
        wecom.receive(who, text={"content": "5 分", "menu_id": "1"})  # the tap is read as the score
        callback(platform)
        from bot.settings import load_settings
        from bot.storage.db import Database
        from bot.storage.models import Session

        db = Database.from_settings(load_settings(platform.env))

        def csat_recorded() -> bool:
            with db.session() as s:
                return s.get(Session, int(sid)).csat == 5  # type: ignore[union-attr]

        assert wait_for(csat_recorded)
        db.dispose()
    finally:
        agent.ws.close()
        httpx.post(f"{agent.base}/api/agent/availability", json={"available": False}, headers=agent.h)


def test_bad_callbacks_are_refused_cleanly(platform: Platform) -> None:
    assert callback(platform, signature="0" * 40).status_code == 403
    assert callback(platform, stamp=int(time.time()) - 3600).status_code == 403  # a replay
    assert callback(platform, corp="ww-another-corp").status_code == 400  # sealed for another corp
    fresh = {"msg_signature": "x", "timestamp": str(int(time.time())), "nonce": "1"}
    r = httpx.post(f"{platform.rasa_url}/webhooks/wecom_kf/webhook", params=fresh, content=b"<xml><Encrypt>")
    assert r.status_code == 400  # malformed XML
    assert httpx.post(f"{platform.rasa_url}/webhooks/wecom_kf/webhook", content=b"x" * (3 * 1024 * 1024),
                      timeout=10).status_code == 413  # fmt: skip
