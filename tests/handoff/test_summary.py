"""The extractive summary of the bot part and the line agent assist looks up (pure functions)."""

from __future__ import annotations

from handoff.summary import before_handoff, extractive, latest_question, order_numbers

BOT_PART = [
    {"from": "customer", "text": "在吗", "at": 1.0},
    {"from": "bot", "text": "您好，请问有什么可以帮您？", "at": 1.1},
    {"from": "customer", "text": "250212075519846031这单咋还没到", "at": 2.0},
    {"from": "bot", "text": "订单250212075519846031已由顺丰揽收，" + "运输中" * 60, "at": 2.1},
    {"from": "customer", "text": "/request_human", "at": 3.0},
    {"from": "customer", "text": "转人工", "at": 3.1},
]


def test_the_summary_says_what_was_asked_which_orders_and_the_last_answer() -> None:
    lines = extractive(BOT_PART).splitlines()
    assert lines[0] == "客户问了：在吗 / 250212075519846031这单咋还没到 / 转人工"
    assert lines[1] == "订单号：250212075519846031"  # once, though said twice
    assert lines[2].startswith("机器人最后回答：订单250212075519846031") and lines[2].endswith("…")
    assert len(lines[2]) == len("机器人最后回答：") + 121
    assert extractive([]) == "" and extractive([{"from": "customer", "text": "/greet"}]) == ""


def test_order_numbers_are_whole_digit_runs_of_twelve_to_twenty() -> None:
    text = "单号250212075519846031和123456789012，电话13812345678，还有123456789012345678901"
    assert order_numbers([{"text": text}]) == ["250212075519846031", "123456789012"]


def test_the_latest_question_skips_requests_for_a_person() -> None:
    assert latest_question([], BOT_PART) == "250212075519846031这单咋还没到"
    during = [{"from": "customer", "text": "我要退款"}, {"from": "agent", "text": "好的"},
              {"from": "customer", "text": "人工客服！"}]  # fmt: skip
    assert latest_question(during, BOT_PART) == "我要退款"
    for only in ("人工", "转人工客服", "我要人工", "找人工", "真人", "客服呢", "请转人工谢谢"):
        assert latest_question([{"from": "customer", "text": only}], []) == "", only
    assert latest_question([{"from": "customer", "text": "人工退款多久到"}], []) == "人工退款多久到"


def test_the_bot_part_ends_when_the_customer_was_queued() -> None:
    after = [*BOT_PART, {"from": "customer", "text": "快点", "at": 9.0}, {"from": "bot", "text": "x"}]
    assert before_handoff(after, 5.0) == [*BOT_PART, {"from": "bot", "text": "x"}]  # no time: kept
    assert before_handoff(after, None) == after
