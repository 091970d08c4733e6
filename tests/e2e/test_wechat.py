"""The 公众号 channel on the real platform: WeChat's signed (and, in safe mode, encrypted) XML in, passive
replies out, retries answered once, hostile input refused, choices as numbers, and an agent's lines through
客服消息. The WeChat API host is a local fake of WeChat's servers (an outside service at its wire boundary):
it hands out stable tokens and records customer-service messages."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.wechat import crypto, wxml

from ..actions.conftest import serve_in_thread
from ..platform import Platform, start_platform
from .test_handoff import Agent

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

TOKEN, AES, APPID = "csbot-wechat-token", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
KEY = crypto.aes_key(AES)


class FakeWeChat:
    """WeChat's API servers, faked: /cgi-bin/stable_token, /cgi-bin/message/custom/send and
    /cgi-bin/media/upload (temporary media)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.sent: list[dict[str, Any]] = []
        self.media: dict[str, tuple[str, bytes]] = {}  # media_id → (content type, bytes)
        self.fail_next: list[int] = []  # errcodes the next sends answer with

    def app(self) -> Starlette:
        async def token(request: Request) -> JSONResponse:
            body = await request.json()
            if body.get("appid") != APPID or body.get("secret") != "app-secret":
                return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
            self.tokens += 1
            return JSONResponse({"access_token": f"tok-{self.tokens}", "expires_in": 7200})

        async def send(request: Request) -> JSONResponse:
            if request.query_params.get("access_token") != f"tok-{self.tokens}":
                return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
            if self.fail_next:
                return JSONResponse({"errcode": self.fail_next.pop(0), "errmsg": "refused"})
            self.sent.append(await request.json())
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        async def upload(request: Request) -> JSONResponse:
            if request.query_params.get("access_token") != f"tok-{self.tokens}":
                return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
            if request.query_params.get("type") != "image":
                return JSONResponse({"errcode": 40004, "errmsg": "invalid media type"})
            from email.parser import BytesParser

            raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + await request.body()
            parts = BytesParser().parsebytes(raw).walk()
            media = next((p for p in parts if p.get_param("name", header="content-disposition") == "media"), None)
            if media is None:
                return JSONResponse({"errcode": 41005, "errmsg": "media data missing"})
            media_id = f"media-{len(self.media) + 1}"
            self.media[media_id] = (media.get_content_type(), media.get_payload(decode=True))
            return JSONResponse({"type": "image", "media_id": media_id, "created_at": 1})

        async def health(_: Request) -> JSONResponse:
            return JSONResponse({"ok": True})

        async def photo(_: Request) -> Response:  # a customer's photo on WeChat's media host
            from tests.bot.test_files import jpeg_with_gps

            return Response(jpeg_with_gps(), media_type="image/jpeg")

        return Starlette(routes=[Route("/cgi-bin/stable_token", token, methods=["POST"]),
                                 Route("/cgi-bin/message/custom/send", send, methods=["POST"]),
                                 Route("/cgi-bin/media/upload", upload, methods=["POST"]),
                                 Route("/health", health), Route("/mmbiz/photo.jpg", photo)])  # fmt: skip


@pytest.fixture(scope="module")
def wechat() -> Iterator[FakeWeChat]:
    fake = FakeWeChat()
    with serve_in_thread(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, wechat: FakeWeChat) -> Iterator[Platform]:
    p = start_platform(tmp_path_factory.mktemp("wechat"), extra_env={
        "CSBOT_WECHAT__TOKEN": TOKEN, "CSBOT_WECHAT__APP_ID": APPID, "CSBOT_WECHAT__APP_SECRET": "app-secret",
        "CSBOT_WECHAT__AES_KEY": AES, "CSBOT_WECHAT__MODE": "compatible",
        "CSBOT_WECHAT__API_BASE": wechat.url,  # type: ignore[attr-defined]
        "CSBOT_HANDOFF__WORKING_HOURS": "00:00-24:00"})  # fmt: skip
    yield p
    p.stop()


def message(openid: str, content: str | None = None, kind: str = "text", msg_id: str | None = None,
            **extra: str) -> str:  # fmt: skip
    fields: dict[str, str | int] = {"ToUserName": "gh_shop", "FromUserName": openid, "CreateTime": int(time.time()),
                                    "MsgType": kind}  # fmt: skip
    if content is not None:
        fields["Content"] = content
    fields.update(extra)
    fields["MsgId"] = msg_id or str(uuid.uuid4().int % 10**18)
    return wxml.build(fields)


def post(p: Platform, xml: str | bytes, encrypted: bool = False, stamp: int | None = None,
         token: str = TOKEN, app_id: str = APPID) -> httpx.Response:  # fmt: skip
    ts, nonce = str(stamp or int(time.time())), str(uuid.uuid4().int % 10**9)
    params = {"timestamp": ts, "nonce": nonce, "signature": crypto.signature(token, ts, nonce)}
    body = xml.encode() if isinstance(xml, str) else xml
    if encrypted:
        cipher = crypto.encrypt(body.decode(), KEY, app_id)
        params |= {"encrypt_type": "aes", "msg_signature": crypto.signature(token, ts, nonce, cipher)}
        body = wxml.build({"ToUserName": "gh_shop", "Encrypt": cipher}).encode()
    return httpx.post(f"{p.rasa_url}/webhooks/wechat/webhook", params=params, content=body, timeout=30)


def reply_text(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return wxml.parse(r.content)["Content"]


def openid() -> str:
    return "oWx_" + uuid.uuid4().hex[:20]


def user_turns(p: Platform, conversation: str) -> int:
    t = httpx.get(f"{p.rasa_url}/conversations/{conversation}/tracker", headers=p.rasa_api(), timeout=10).json()
    return sum(1 for e in t["events"] if e["event"] == "user")


def test_the_url_check_and_a_plain_and_an_encrypted_message_get_passive_replies(platform: Platform) -> None:
    ts, nonce = str(int(time.time())), "42"
    ok = httpx.get(f"{platform.rasa_url}/webhooks/wechat/webhook", params={
        "signature": crypto.signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "e-123"})
    assert ok.text == "e-123"
    bad = httpx.get(f"{platform.rasa_url}/webhooks/wechat/webhook", params={
        "signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": "e-123"})
    assert bad.status_code == 403
    who = openid()
    out = wxml.parse(post(platform, message(who, "在吗")).content)
    assert out["ToUserName"] == who and out["FromUserName"] == "gh_shop" and "帮您" in out["Content"]
    sealed = post(platform, message(who, "退货运费谁出"), encrypted=True)
    envelope = wxml.parse(sealed.content)
    assert crypto.signature_ok(envelope["MsgSignature"], TOKEN, envelope["TimeStamp"], envelope["Nonce"],
                               envelope["Encrypt"])  # fmt: skip
    assert "运费" in wxml.parse(crypto.decrypt(envelope["Encrypt"], KEY, APPID))["Content"]
    assert "帮您" in reply_text(post(platform, message(openid(), kind="event", Event="subscribe")))


def test_wechats_three_tries_make_one_bot_turn(platform: Platform) -> None:
    who, msg_id = openid(), "7000000000000000001"
    xml = message(who, "怎么退货", msg_id=msg_id)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: post(platform, xml), range(3)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200]
    assert sum(1 for r in answers if r.text == "success") == 2  # the retries
    assert user_turns(platform, f"default:wx-{who}") == 1


def test_choices_are_numbered_and_the_number_picks_one(platform: Platform) -> None:
    who = openid()
    first = reply_text(post(platform, message(who, "250316084512367890")))
    assert "回复数字即可" in first and "1. 查订单状态" in first
    assert "当前状态" in reply_text(post(platform, message(who, "1")))


def test_bad_input_is_refused_cleanly(platform: Platform) -> None:
    who = openid()
    assert post(platform, message(who, "你好"), token="wrong-token").status_code == 403
    assert post(platform, message(who, "你好"), stamp=int(time.time()) - 3600).status_code == 403  # a replay
    assert post(platform, message(who, "你好"), encrypted=True, app_id="wx0000000000000000").status_code == 400
    xxe = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><FromUserName>&e;</FromUserName></xml>'
    assert post(platform, xxe).status_code == 400
    assert post(platform, b"<xml><a>").status_code == 400
    assert post(platform, b"<xml>" + b"x" * 2_000_000 + b"</xml>").status_code == 413
    assert post(platform, message("../../etc", "你好")).status_code == 400
    assert "文字" in reply_text(post(platform, message(who, kind="video", MediaId="m")))
    assert "帮您" in reply_text(post(platform, message(who, "你好")))  # and the channel still serves


def test_an_agents_lines_reach_wechat_through_customer_service_messages(platform: Platform,
                                                                        wechat: FakeWeChat) -> None:  # fmt: skip
    agent = Agent(platform, f"wx-{uuid.uuid4().hex[:4]}")
    who = openid()
    try:
        assert "前面还有" in reply_text(post(platform, message(who, "转人工")))
        offer = agent.next("offer")
        agent.post(f"/offers/{offer['offer_id']}/accept")
        sid = offer["session"]["id"]
        assert offer["session"]["channel"] == "wechat" and offer["session"]["customer"]["id"] == f"wx-{who}"
        wechat.fail_next = [40001]  # WeChat calls the token invalid once: renewed, and the line still goes
        sent = agent.post(f"/sessions/{sid}/messages", {"text": "您好，我是人工客服，请问哪里不满意"})
        assert sent.status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("哪里不满意" in m["text"]["content"] for m in wechat.sent):
            time.sleep(0.1)
        line = next(m for m in wechat.sent if "哪里不满意" in m["text"]["content"])
        assert line["touser"] == who and line["msgtype"] == "text"
        # WeChat refuses a line (the 5-line quota): the agent is told, the line is kept and marked
        wechat.fail_next = [45047]
        refused = agent.post(f"/sessions/{sid}/messages", {"text": "还有别的问题吗"}).json()
        assert refused["message"]["undelivered"] and "没有送达" in refused["warning"]
        detail = httpx.get(f"{agent.base}/api/agent/sessions/{sid}", headers=agent.h).json()
        assert [m.get("undelivered", False) for m in detail["messages"] if m["from"] == "agent"][-2:] == [False, True]
        assert detail["reply_quota"]["remaining"] == 4  # one line went out since the customer wrote; one refused
        # what the customer writes back reaches the agent, and the bot stays quiet
        assert post(platform, message(who, "衣服洗了就缩水")).text == "success"
        # the agent's photo reaches WeChat as an image (uploaded as temporary media), not as a link
        from tests.bot.test_files import jpeg_with_gps

        stored = httpx.post(f"{agent.base}/api/agent/files", params={"name": "尺码表.jpg"}, content=jpeg_with_gps(),
                            headers=agent.h).json()  # fmt: skip
        assert not agent.post(f"/sessions/{sid}/messages", {"file": stored}).json()["message"].get("undelivered")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(m["msgtype"] == "image" for m in wechat.sent):
            time.sleep(0.1)
        image = next(m for m in wechat.sent if m["msgtype"] == "image")
        kind, data = wechat.media[image["image"]["media_id"]]
        assert image["touser"] == who and kind == "image/jpeg"
        assert data == httpx.get(stored["url"]).content and b"PhoneMaker" not in data  # the cleaned copy
        assert agent.next("message", sender="customer")["message"]["text"] == "衣服洗了就缩水"
        agent.post(f"/sessions/{sid}/close", {"summary": "缩水"})
    finally:
        agent.ws.close()
        httpx.post(f"{agent.base}/api/agent/availability", json={"available": False}, headers=agent.h)


def test_a_customers_photo_is_kept_clean_and_the_agent_sees_it(platform: Platform, wechat: FakeWeChat) -> None:
    agent = Agent(platform, f"wxp-{uuid.uuid4().hex[:4]}")
    who = openid()
    try:
        pic = f"{wechat.url}/mmbiz/photo.jpg"  # type: ignore[attr-defined]
        got = reply_text(post(platform, message(who, kind="image", PicUrl=pic, MediaId="media-1")))
        assert "收到您发的文件" in got and "1. 转人工" in got  # the bot cannot read it; a person can
        assert "前面还有" in reply_text(post(platform, message(who, "1")))
        offer = agent.next("offer")
        agent.post(f"/offers/{offer['offer_id']}/accept")
        detail = httpx.get(f"{agent.base}/api/agent/sessions/{offer['session']['id']}", headers=agent.h).json()
        photo = next(line["file"] for line in detail["conversation"] if line.get("file"))
        served = httpx.get(photo["url"], timeout=10)
        assert served.headers["content-type"] == "image/jpeg" and b"PhoneMaker" not in served.content  # no EXIF
        # a PicUrl anywhere but WeChat's media hosts is never fetched
        lost = reply_text(post(platform, message(openid(), kind="image", PicUrl="http://169.254.169.254/x.jpg")))
        assert "图片没有收到" in lost
        agent.post(f"/sessions/{offer['session']['id']}/close", {"summary": "看了照片"})
    finally:
        agent.ws.close()
        httpx.post(f"{agent.base}/api/agent/availability", json={"available": False}, headers=agent.h)
