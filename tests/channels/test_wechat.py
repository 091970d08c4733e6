"""The WeChat channel's pure parts: signatures and the AES envelope (checked against the official sample of the
WeCom developer docs), the message XML under hostile input, and buttons rendered as numbered lines."""

from __future__ import annotations

import asyncio
import base64
import tracemalloc
import uuid

import pytest

from channels.wechat import crypto, wxml
from channels.wechat.render import Choices, RedisChoices, as_text

# the sample in WeChat's (WeCom) callback documentation: token, EncodingAESKey, receive id, and a signed,
# encrypted echostr whose plaintext is 1616140317555161061
TOKEN, AES, APPID = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
ECHO = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="

REDIS = "redis://127.0.0.1:6379/0"


def test_the_official_sample_verifies_and_opens() -> None:
    assert crypto.signature_ok("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", TOKEN, "1409659589", "263014780", ECHO)
    assert not crypto.signature_ok("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4", TOKEN, "1409659589", "263014780", ECHO)
    assert not crypto.signature_ok(None, TOKEN, "1", "2")
    assert crypto.decrypt(ECHO, crypto.aes_key(AES), APPID) == "1616140317555161061"


def test_the_envelope_round_trips_and_refuses_what_is_not_ours() -> None:
    key = crypto.aes_key(AES)
    xml = "<xml><Content><![CDATA[你好，在吗]]></Content></xml>"
    sealed = crypto.encrypt(xml, key, APPID)
    assert crypto.decrypt(sealed, key, APPID) == xml
    assert len(base64.b64decode(sealed)) % 32 == 0  # PKCS#7 to 32-byte blocks, as WeChat pads
    with pytest.raises(crypto.WeChatCryptoError, match="AppID"):
        crypto.decrypt(sealed, key, "wx0000000000000000")
    other = crypto.aes_key("a" * 43)
    with pytest.raises(crypto.WeChatCryptoError):
        crypto.decrypt(sealed, other, APPID)  # another account's key: padding or AppID fails
    for junk in ("not base64!!", base64.b64encode(b"x" * 15).decode(), "", base64.b64encode(b"\0" * 32).decode()):
        with pytest.raises(crypto.WeChatCryptoError):
            crypto.decrypt(junk, key, APPID)
    with pytest.raises(crypto.WeChatCryptoError):
        crypto.aes_key("short")


XXE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>'
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
          b"<xml><Content>&d;&d;&d;&d;</Content></xml>")  # fmt: skip
QUADRATIC = b'<!DOCTYPE q [<!ENTITY x "' + b"x" * 20_000 + b'">]><xml><Content>' + b"&x;" * 2000 + b"</Content></xml>"


@pytest.mark.parametrize("payload", [XXE, LAUGHS, QUADRATIC, b"<!doctype xml><xml/>", b"not xml", b"<xml><a>",
                                     b"<html><Content>x</Content></html>", b"", b"\xff\xfe<xml/>",
                                     b"<xml>" + b"<F>1</F>" * 50 + b"</xml>", b"<xml>" + b"x" * 70_000 + b"</xml>"])
def test_hostile_or_malformed_xml_is_one_clean_refusal(payload: bytes) -> None:
    tracemalloc.start()
    with pytest.raises(wxml.BadMessage):
        wxml.parse(payload)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000  # memory stays flat: nothing was expanded


def test_a_message_parses_flat_and_a_reply_escapes_cdata() -> None:
    msg = wxml.parse("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oUser_123]]></FromUserName>"
                     "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                     "<Content><![CDATA[ 退货 ]]></Content><MsgId>1</MsgId><Nested><A>1</A></Nested></xml>")
    assert msg == {"ToUserName": "gh_1", "FromUserName": "oUser_123", "CreateTime": "1700000000", "MsgType": "text",
                   "Content": "退货", "MsgId": "1"}  # fmt: skip
    out = wxml.build({"Content": "a]]>b<c>", "CreateTime": 5})
    assert wxml.parse(out) == {"Content": "a]]>b<c>", "CreateTime": "5"}


def test_buttons_become_numbered_lines_and_the_number_comes_back_as_the_payload() -> None:
    text, payloads = as_text([{"text": "收到订单号，需要做什么？", "buttons": [
        {"title": "查订单状态", "payload": "/order_status"}, {"title": "查物流", "payload": "/logistics"}]},
        {"custom": {"order": {"order_no": "250316084512367890", "status": "已发货"}}}])  # fmt: skip
    assert text == "收到订单号，需要做什么？\n\n回复数字即可：\n1. 查订单状态\n2. 查物流\n\n250316084512367890\n已发货"
    now = [0.0]
    choices = Choices(clock=lambda: now[0])
    shared = [RedisChoices(REDIS) for _ in range(2)]  # two Rasa instances
    conv = f"c-{uuid.uuid4().hex[:8]}"

    async def go() -> None:
        await choices.remember("c1", payloads)
        await shared[0].remember(conv, payloads)
        for memory, c1 in ((choices, "c1"), (shared[1], conv)):  # the other instance reads what the first showed
            assert await memory.resolve(c1, "2") == "/logistics" and await memory.resolve(c1, " １ ") == "/order_status"
            assert await memory.resolve(c1, "3") == "3" and await memory.resolve("c2", "1") == "1"
            assert await memory.resolve(c1, "250316084512367890") == "250316084512367890"  # an order number
        now[0] = 3601
        assert await choices.resolve("c1", "1") == "1"  # an hour later the number means nothing
        assert 3500 < await shared[0]._r.ttl(f"csbot:wechat:choices:{conv}") <= 3600
        for m in shared:
            await m._r.delete(f"csbot:wechat:choices:{conv}")
            await m._r.aclose()

    asyncio.run(go())
