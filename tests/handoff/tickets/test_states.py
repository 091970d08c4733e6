"""The ticket status machine over every (from, to) pair, and the pure policies beside it."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from bot.errors import ConfigError, Conflict
from handoff.tickets import policy
from handoff.tickets.config import TicketsConfig
from handoff.tickets.states import Status, move, parse

S = Status
LEGAL = {
    (S.NEW, S.IN_PROGRESS), (S.NEW, S.WAITING_CUSTOMER), (S.NEW, S.RESOLVED), (S.NEW, S.CLOSED),
    (S.IN_PROGRESS, S.WAITING_CUSTOMER), (S.IN_PROGRESS, S.RESOLVED), (S.IN_PROGRESS, S.CLOSED),
    (S.WAITING_CUSTOMER, S.IN_PROGRESS), (S.WAITING_CUSTOMER, S.RESOLVED), (S.WAITING_CUSTOMER, S.CLOSED),
    (S.RESOLVED, S.IN_PROGRESS), (S.RESOLVED, S.CLOSED),
}  # fmt: skip


@pytest.mark.parametrize(("before", "after"), list(itertools.product(Status, Status)))
def test_every_pair_is_allowed_or_refused_as_the_table_says(before: Status, after: Status) -> None:
    if (before, after) in LEGAL:
        m = move(before, after)
        assert (m.before, m.after) == (before, after)
    else:
        with pytest.raises(Conflict, match=before.label):  # IllegalTransition is a Conflict: HTTP 409
            move(before, after)


def test_what_a_move_does_to_the_sla_clock() -> None:
    assert move(S.IN_PROGRESS, S.WAITING_CUSTOMER).pauses_sla
    assert move(S.WAITING_CUSTOMER, S.IN_PROGRESS).resumes_sla
    assert not move(S.WAITING_CUSTOMER, S.RESOLVED).resumes_sla
    assert move(S.RESOLVED, S.IN_PROGRESS).reopens and not move(S.NEW, S.IN_PROGRESS).reopens


def test_a_status_is_read_from_its_code_key_or_label() -> None:
    assert parse(2) is parse("2") is parse("waiting_customer") is parse("待客户") is S.WAITING_CUSTOMER
    for bad in ("done", 7, "", "新"):
        with pytest.raises(ValueError):
            parse(bad)


def test_categories_and_priorities() -> None:
    assert policy.categorize("退款一直没到账，我要投诉你们") == "complaint"  # who is upset comes first
    assert policy.categorize("申请退货退款") == "refund"
    assert policy.categorize("快递三天没动了") == "logistics"
    assert policy.categorize("APP 一直闪退登录不了") == "tech"
    assert policy.categorize("你好", "after_sales") == "refund" and policy.categorize("你好") is None
    assert policy.priority_of("complaint") == 2 and policy.priority_of(None) == 3
    assert policy.priority_of("complaint", vip=True) == 1 and policy.priority_of("tech", vip=True) == 2
    assert [policy.escalated(p) for p in (4, 3, 2, 1)] == [3, 2, 1, 1]


def test_sla_settings_and_deadlines() -> None:
    cfg = TicketsConfig.from_mapping(None)
    assert [cfg.sla(p) for p in (1, 2, 3, 4)] == [30, 60, 120, 480]
    start = dt.datetime(2026, 1, 1, 4, 0)
    assert policy.deadline(start, 3, cfg) == dt.datetime(2026, 1, 1, 6, 0)
    # the environment's string keys win over the defaults' int keys they were merged beside
    merged = TicketsConfig.from_mapping({"sla_minutes": {1: 30, 2: 60, 3: 120, 4: 480, "3": 90}})
    assert merged.sla(3) == 90 and merged.sla(4) == 480
    for bad in ({"sla_minutes": {5: 10}}, {"sla_minutes": {1: 0}}, {"sla_minutes": [1]}, {"sla_minute": {}},
                {"number_prefix": "T-"}, {"timezone": "Mars/Base"}):  # fmt: skip
        with pytest.raises(ConfigError):
            TicketsConfig.from_mapping(bad)


def test_ticket_numbers_are_the_local_day_and_a_sequence() -> None:
    cfg = TicketsConfig()
    day = policy.day_code(dt.datetime(2025, 12, 31, 17, 30), cfg)  # 01:30 on 1 January in Shanghai
    assert day == "T260101" and policy.ticket_no(day, 7) == "T2601010007"
    assert policy.sequence_of("T2601010007", day) == 7 and policy.sequence_of("T26010112345", day) == 12345
    assert policy.minutes_text(120) == "2 小时" and policy.minutes_text(30) == "30 分钟"
    assert policy.minutes_text(1440) == "1 天"


def test_the_resolution_line_reads_naturally() -> None:
    assert policy.resolved_line("T2601010001", "已为您补发新品。") == (
        "您的工单 T2601010001 已处理完成～处理结果：已为您补发新品。如果问题还没解决，直接回复我就好。")
    assert "处理结果" not in policy.resolved_line("T2601010001", "")
