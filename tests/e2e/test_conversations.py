"""Conversations over the REST channel against the real Rasa server, action server and demo order API."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .. import kb_decisions as kbq
from ..platform import Platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def sender(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_greeting(platform: Platform) -> None:
    reply = platform.text(sender(), "在吗 亲")
    assert "帮您" in reply


def test_order_lookup_with_entity_in_message(platform: Platform) -> None:
    # u1001 owns 250212075519846031 in the demo shop; who is asking comes from the token the shop signs
    replies = platform.say(sender(), "帮我看下订单250212075519846031发货没", customer="u1001")
    text = replies[0]["text"]
    assert "250212075519846031" in text and "已发货" in text and "京东物流" in text
    assert replies[0]["recipient_id"] == "default:u1001"  # the conversation is the customer's, not the sender's


def test_identity_claimed_in_metadata_or_sender_is_ignored(platform: Platform) -> None:
    # an anonymous client naming u1001 in its metadata sees no order: it is asked to log in
    forged = platform.say("attacker9", "订单250212075519846031到哪了",
                          metadata={"customer_id": "u1001", "tenant_id": "default", "csbot_identity": "x.y.z"})
    text = forged[0]["text"]
    assert "登录" in text and "京东物流" not in text and "250212075519846031" not in text
    # nor can it pick a logged-in customer's conversation as its sender id
    r = httpx.post(f"{platform.rasa_url}/webhooks/rest/webhook", json={"sender": "default:u1001", "message": "hi"})
    assert r.status_code == 400
    # a token the shop did not sign (or for another customer, altered) is refused, not downgraded
    import jwt

    token = platform.customer_token("u1002")
    head, body, _sig = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    bad = [token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),  # altered signature
           f"{head}.{body}.",  # signature removed
           jwt.encode({**claims, "sub": "u1001"}, "x" * 32, algorithm="HS256"),  # signed by someone else
           jwt.encode(claims, None, algorithm="none"),  # alg: none
           jwt.encode({**claims, "exp": 1}, "x" * 32, algorithm="HS256"),  # expired (and foreign)
           "not-a-jwt"]  # fmt: skip
    for t in bad:
        r = httpx.post(f"{platform.rasa_url}/webhooks/rest/webhook", json={"sender": "x", "message": "订单"},
                       headers={"Authorization": f"Bearer {t}"})  # fmt: skip
        assert r.status_code == 401 and "Traceback" not in r.text


def test_order_number_asked_for_then_given(platform: Platform) -> None:
    s = sender()
    assert "订单号" in platform.text(s, "我的快递到哪了", customer=s)
    reply = platform.text(s, "250316084512367890", customer=s)
    assert "顺丰" in reply and "SF1402837746512" in reply


def test_anonymous_visitor_is_asked_to_log_in_for_orders_but_gets_policy_answers(platform: Platform) -> None:
    s = sender()
    assert "登录" in platform.text(s, "查下订单250316084512367890")
    assert "登录" in platform.text(s, "我要退货")
    assert "参考" in platform.text(s, kbq.ANSWERED_POLICY[0])


def test_order_errors_are_polite(platform: Platform) -> None:
    s = sender()
    other = platform.say(s, "查下订单250507120033581946", customer="u1001")[0]["text"]
    assert "不在您当前登录的账号下" in other  # u1002's order
    assert "没有查到" in platform.text(s, "订单259999999999999999怎么还没发货", customer="u1001")
    assert "不太对" in platform.text(s, "订单号2503160845123", customer="u1001")


def test_return_form_with_a_correction(platform: Platform) -> None:
    s = sender()
    assert "订单号" in platform.text(s, "我要退货", customer=s)
    ask_reason = platform.say(s, "250316084512367890", customer=s)[0]
    assert "250316084512367890" in ask_reason["text"] and ask_reason.get("buttons")
    corrected = platform.text(s, "不对不对 订单号是250128112240093318", customer=s)
    assert "250128112240093318" in corrected and "原因" in corrected
    confirm = platform.text(s, "质量问题", customer=s)
    assert "确认" in confirm and "250128112240093318" in confirm and "质量问题" in confirm
    done = platform.text(s, "可以 提交吧", customer=s)
    assert "退货申请已提交" in done and "250128112240093318" in done and "质量问题" in done


def test_cancel_unshipped_and_refuse_shipped(platform: Platform) -> None:
    s = sender()
    assert "已为您取消订单" in platform.text(s, "帮我取消订单250401193325014476", customer=s)
    assert "已经发货" in platform.text(sender(), "取消订单250316084512367890", customer=sender())


def test_out_of_scope_is_said_honestly_with_a_person_offered(platform: Platform) -> None:
    reply = platform.say(sender(), kbq.DECLINED[1])[0]
    assert "回答不了" in reply["text"]
    assert [b["payload"] for b in reply.get("buttons") or []] == ["/request_human"]


def test_policy_question_is_answered_from_the_knowledge_base_with_a_source(platform: Platform) -> None:
    reply = platform.say(sender(), kbq.ANSWERED_POLICY[0])[0]["text"]
    assert "花呗" in reply and "参考" in reply


@pytest.mark.parametrize(
    ("question", "not_expected"),
    [
        (kbq.ANSWERED_POLICY[1], "退货的原因"),
        (kbq.ANSWERED_POLICY[2], "请先发一下订单号"),
        (kbq.ANSWERED_POLICY[3], "麻烦发一下您的订单号"),
    ],
)
def test_policy_questions_worded_as_requests_get_answers_not_forms(
    platform: Platform, question: str, not_expected: str
) -> None:
    reply = platform.text(sender(), question)
    assert "参考" in reply  # a KB answer with its source
    assert not_expected not in reply


def test_unknown_question_offers_a_human_and_yes_hands_off(platform: Platform) -> None:
    s = sender()
    first = platform.say(s, kbq.SUGGESTED[1])[0]
    assert "转人工" in first["text"] or any("人工" in b["title"] for b in first.get("buttons") or [])
    assert "人工客服" in platform.text(s, "/affirm")


def test_handoff_request_is_acknowledged(platform: Platform) -> None:
    assert "人工客服" in platform.text(sender(), "转人工")


@pytest.mark.parametrize(
    "message",
    ["", "   ", "😂😂😂", "退\x00款\x07\x1b[31m", "我要退款" * 2500, "<script>alert(1)</script>", "/restart"],
)
def test_bad_messages_get_a_reply_or_4xx_and_server_keeps_serving(platform: Platform, message: str) -> None:
    r = httpx.post(f"{platform.rasa_url}/webhooks/rest/webhook", json={"sender": sender(), "message": message},
                   timeout=60)  # fmt: skip
    assert r.status_code == 200
    replies = r.json()
    assert replies and all(m.get("text") for m in replies)  # always a reply, never silence
    assert "帮您" in platform.text(sender(), "你好")


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"message": 5}', b"\xff\xfe"])
def test_invalid_json_is_rejected_and_server_keeps_serving(platform: Platform, body: bytes) -> None:
    r = httpx.post(f"{platform.rasa_url}/webhooks/rest/webhook", content=body,
                   headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert r.status_code == 400 and r.json()["error"]
    assert "帮您" in platform.text(sender(), "你好")


def test_oversize_and_wrong_content_type_are_refused(platform: Platform) -> None:
    url = f"{platform.rasa_url}/webhooks/rest/webhook"
    big = httpx.post(url, json={"sender": sender(), "message": "退" * 40_000}, timeout=30)
    assert big.status_code == 413
    form = httpx.post(url, content=b"sender=a&message=hi", timeout=30,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status_code == 415


def test_a_flooding_conversation_gets_a_polite_line_not_an_error_page(platform: Platform) -> None:
    # 30 messages at once, past the default 20 per 10 s. Sent together so that how fast this machine answers
    # each one cannot spread them over more than the window (sent one by one, a slow CI machine never got a 429).
    s = sender()

    def post(_: int) -> httpx.Response:
        return httpx.post(f"{platform.rasa_url}/webhooks/rest/webhook", json={"sender": s, "message": "嗯"},
                          timeout=120)  # fmt: skip

    with ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(post, range(30)))
    ok = sum(r.status_code == 200 for r in responses)
    refused = sum(r.status_code == 429 for r in responses)
    # the burst of 20 always passes; the bucket refills one message per 0.5 s (GCRA), so on a slow machine a
    # few more may get through while the 30 are still arriving, never all of them
    assert ok + refused == 30 and 20 <= ok < 30 and refused >= 1, [r.status_code for r in responses]
    assert all("太快" in r.json()[0]["text"] for r in responses if r.status_code == 429)
    assert "帮您" in platform.text(sender(), "你好")  # other conversations are not affected


def test_shop_question_the_nlu_calls_out_of_scope_still_gets_the_kb_answer(platform: Platform) -> None:
    # the NLU labels some shop questions out_of_scope; a sure KB answer overrules it, off-topic stays declined
    reply = platform.text(sender(), kbq.SURE_ABROAD)
    assert "参考" in reply and "回答不了" not in reply
    assert "回答不了" in platform.text(sender(), kbq.DECLINED[0])


def test_complaint_worded_as_a_question_gets_an_answer_and_a_human_offer(platform: Platform) -> None:
    s = sender()
    first = platform.say(s, kbq.ANSWERED_COMPLAINT_QUESTION)[-1]
    assert "参考" in first["text"] and any("人工" in b["title"] for b in first.get("buttons") or [])
    assert "人工客服" in platform.text(s, "/affirm")  # no agent is on duty here: said so, and a message taken


def test_plain_complaint_is_apologised_for_and_handed_off(platform: Platform) -> None:
    replies = [m["text"] for m in platform.say(sender(), "你们这服务太差劲了 气死我了")]
    assert any("抱歉" in t for t in replies) and any("人工客服" in t for t in replies)
    assert "留言" in replies[-1]  # nobody on duty in this platform: the customer may leave a message


def test_described_logistics_problem_gets_policy_and_an_order_lookup_offer(platform: Platform) -> None:
    reply = platform.text(sender(), kbq.SURE_LOGISTICS_DESCRIPTION)
    assert "参考" in reply and "订单号" in reply


def test_unsure_answer_offers_the_nearest_questions_as_buttons(platform: Platform) -> None:
    s = sender()
    reply = platform.say(s, kbq.SUGGESTED[0])[-1]
    titles = [b["title"] for b in reply.get("buttons") or []]
    assert "是不是想问" in reply["text"] and len(titles) >= 2 and "转人工客服" in titles
    # a suggestion sent back as the customer's message gets that FAQ's answer
    picked = next(t for t in titles if t != "转人工客服")
    assert "参考" in platform.text(s, picked)
