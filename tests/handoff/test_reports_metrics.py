"""Period reports' arithmetic (pure): periods and their checks, a session's history into agents' parts, the
report per day, agent and category. Every expected number is worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.errors import InvalidInput
from handoff.reports.metrics import (
    ConversationDay,
    EventRow,
    Segment,
    SessionRow,
    TicketRow,
    build,
    session_facts,
    sla_met,
)
from handoff.reports.periods import MAX_DAYS, Period, avg, p90, parse_period, ratio

TZ = "Asia/Shanghai"
CN = ZoneInfo(TZ)
DEC = Period(dt.date(2026, 12, 1), dt.date(2026, 12, 3), TZ)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    """An epoch second on December ``day``, 2026, Shanghai time."""
    return dt.datetime(2026, 12, day, hour, minute, second, tzinfo=CN).timestamp()


def row(sid: int, asked: float, conv: str = "", reason: str | None = "other", agent: int | None = None,
        first: float | None = None, closed: float | None = None, csat: int | None = None,
        assigned: float | None = None) -> SessionRow:  # fmt: skip
    return SessionRow(sid, conv or f"c{sid}", reason, asked, assigned, first, closed, agent, csat)


def ev(event: str, to: str, t: float, agent: int | None = None, sid: int = 1) -> EventRow:
    return EventRow(sid, event, to, agent, t)


def served(sid: int, asked: float, taken: float, agent: int, first: float | None, closed: float | None,
           csat: int | None = None, conv: str = "", reason: str = "other"):  # type: ignore[no-untyped-def]  # fmt: skip
    """A session asked → taken by ``agent`` → (first line) → closed, with its events."""
    events = [ev("queued", "waiting", asked, sid=sid), ev("agent_assigned", "active", taken, agent, sid)]
    if closed is not None:
        events.append(ev("agent_end", "closed", closed, sid=sid))
    return session_facts(row(sid, asked, conv, reason, agent, first, closed, csat, taken), events)


# --- periods ------------------------------------------------------------------------------------------------
def test_a_period_is_whole_shop_days_with_their_utc_bounds() -> None:
    p = parse_period("2026-12-01", "2026-12-03", TZ)
    assert p.days == [dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 3)]
    # Shanghai midnight is 16:00 UTC the day before
    assert p.bounds() == (dt.datetime(2026, 11, 30, 16, tzinfo=dt.UTC).timestamp(),
                          dt.datetime(2026, 12, 3, 16, tzinfo=dt.UTC).timestamp())  # fmt: skip
    assert p.day_of(at(1, 0, 0, 0)) == dt.date(2026, 12, 1)
    assert p.day_of(at(1, 0, 0, 0) - 1) == dt.date(2026, 11, 30)
    assert p.holds(at(3, 23, 59, 59)) and not p.holds(at(4, 0)) and not p.holds(at(1, 0) - 0.001)
    assert parse_period("2026-12-01", "2026-12-01", TZ).days == [dt.date(2026, 12, 1)]  # one day


def test_a_day_where_the_clocks_change_is_23_or_25_hours() -> None:
    spring = Period(dt.date(2026, 3, 29), dt.date(2026, 3, 29), "Europe/Berlin")
    autumn = Period(dt.date(2026, 10, 25), dt.date(2026, 10, 25), "Europe/Berlin")
    (_, s0, s1), (_, a0, a1) = spring.day_bounds()[0], autumn.day_bounds()[0]
    assert (s1 - s0, a1 - a0) == (23 * 3600, 25 * 3600)


@pytest.mark.parametrize(("first", "last", "message"), [
    (None, "2026-12-01", "from is required"),
    ("2026-12-01", "", "to is required"),
    ("2026-13-01", "2026-12-01", "from must be a date YYYY-MM-DD, not '2026-13-01'"),
    ("20261201", "2026-12-01", "from must be a date"),
    ("2026-12-01", "yesterday", "to must be a date"),
    ("2026-12-01'; DROP TABLE cs_session; --", "2026-12-01", "from must be a date"),
    ("2026-12-08", "2026-12-01", "from (2026-12-08) is after to (2026-12-01)"),
    ("2025-01-01", "2026-01-02", "at most 366 days; 2025-01-01..2026-01-02 is 367"),
])  # fmt: skip
def test_bad_periods_are_refused_with_what_is_wrong(first: str | None, last: str | None, message: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_period(first, last, TZ)
    assert message in str(e.value)


def test_a_leap_year_fits() -> None:
    assert len(parse_period("2028-01-01", "2028-12-31", TZ).days) == MAX_DAYS


def test_p90_is_a_measured_value_by_nearest_rank() -> None:
    assert p90([]) is None and avg([]) is None and ratio(1, 0) is None
    assert p90([7.0]) == 7.0
    assert p90([float(x) for x in range(1, 11)]) == 9.0  # ceil(0.9 × 10) = 9th of 1..10
    assert p90([float(x) for x in range(1, 12)]) == 10.0  # ceil(9.9) = 10th of 1..11
    assert p90([30.0, 10.0, 20.0]) == 30.0  # ceil(2.7) = 3rd, whatever the order given
    assert ratio(2, 3) == 0.6667 and avg([1.0, 2.0]) == 1.5


# --- a session's history ------------------------------------------------------------------------------------
def test_a_transfer_splits_the_session_between_two_agents() -> None:
    asked = at(1, 10)
    events = [ev("queued", "waiting", asked), ev("agent_assigned", "active", asked + 30, 7),
              ev("silence_timeout", "warning", asked + 200),  # still with agent 7 while warned
              ev("transfer", "waiting", asked + 300), ev("agent_assigned", "active", asked + 360, 8),
              ev("agent_end", "closed", asked + 660)]  # fmt: skip
    f = session_facts(row(1, asked + 0.5, agent=8, first=asked + 45, closed=asked + 660, csat=4), events)
    assert f.requested_at == asked  # the queued event, not the row's later clock
    assert f.segments == (Segment(7, asked + 30, asked + 300), Segment(8, asked + 360, asked + 660))
    assert (f.wait, f.first_response, f.responder) == (30.0, 45.0, 7)
    assert f.handle == 270 + 300  # both parts, without the 60 s back in the queue
    assert f.handle_by_agent() == {7: 270.0, 8: 300.0}
    assert f.rated_agent == 8 and f.closed and f.served and not f.abandoned


def test_a_supervisor_assigning_someone_else_counts_for_the_assignee() -> None:
    f = session_facts(row(1, 100.0, agent=9), [ev("queued", "waiting", 100), ev("agent_assigned", "active", 150, 9)])
    assert f.segments == (Segment(9, 150, None),)
    assert f.handle is None and f.handle_by_agent() == {} and not f.closed  # still open: no handle time yet


def test_sessions_that_never_reached_an_agent() -> None:
    cancelled = session_facts(row(1, 100.0, closed=400.0), [ev("queued", "waiting", 100), ev("cancel", "closed", 400)])
    assert cancelled.abandoned and cancelled.wait is None and cancelled.handle is None and cancelled.responder is None
    waiting = session_facts(row(2, 100.0), [ev("queued", "waiting", 100, sid=2)])
    assert not waiting.abandoned and not waiting.served and not waiting.closed


def test_an_agent_lost_and_the_next_one_closing() -> None:
    events = [ev("queued", "waiting", 0), ev("agent_assigned", "active", 10, 1), ev("agent_lost", "waiting", 50),
              ev("agent_assigned", "active", 70, 2), ev("user_end", "closed", 100)]  # fmt: skip
    f = session_facts(row(1, 0.0, agent=2, first=80.0, closed=100.0), events)
    assert f.handle_by_agent() == {1: 40.0, 2: 30.0} and f.handle == 70.0
    assert f.responder == 2  # the first line came while agent 2 held it


def test_a_row_without_its_events_still_counts() -> None:
    f = session_facts(row(1, 100.0, agent=5, first=130.0, closed=400.0, csat=3, assigned=120.0), [])
    assert f.segments == (Segment(5, 120.0, 400.0),)
    assert (f.wait, f.first_response, f.handle, f.rated_agent) == (20.0, 30.0, 280.0, 5)


def test_sla_outcomes() -> None:
    deadline = 1000.0
    assert sla_met(TicketRow(1, "refund", None, deadline, 999.0), now=5000) is True
    assert sla_met(TicketRow(1, "refund", None, deadline, deadline), now=5000) is True  # at the deadline: met
    assert sla_met(TicketRow(1, "refund", None, deadline, 1001.0), now=5000) is False
    assert sla_met(TicketRow(1, "refund", None, deadline, None), now=1001) is False  # open past it
    assert sla_met(TicketRow(1, "refund", None, deadline, None), now=999) is None  # not decided yet
    assert sla_met(TicketRow(1, "refund", None, None, None), now=5000) is None  # no deadline


# --- the report ---------------------------------------------------------------------------------------------
def test_an_empty_period_has_every_day_and_no_averages() -> None:
    r = build("default", DEC, "day", [], [], [], now=at(5, 0))
    assert [x.key for x in r.rows] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    t = r.total
    assert (t.conversations, t.self_service_rate, t.handoff_rate, t.sessions, t.wait_avg, t.wait_p90) == \
        (0, None, None, 0, None, None)  # fmt: skip
    assert (t.csat_avg, t.csat_count, t.tickets_due, t.sla_compliance) == (None, 0, 0, None)
    assert r.to_json()["rows"][0] == {"key": "2026-12-01", "label": "2026-12-01", **r.to_json()["total"]}
    assert build("default", DEC, "agent", [], [], [], now=0).rows == ()


def test_by_day_across_midnight_in_the_shops_time_zone() -> None:
    convs = [
        ConversationDay("a", dt.date(2026, 12, 1), 3, 3),  # bot only: self-served
        ConversationDay("b", dt.date(2026, 12, 1), 2, 1),  # asked for a person on the 1st
        ConversationDay("c", dt.date(2026, 12, 1), 0, 1),  # the bot's greeting alone: not a conversation
        ConversationDay("d", dt.date(2026, 12, 2), 1, 0),  # the bot never answered: not self-served
        ConversationDay("b", dt.date(2026, 12, 2), 1, 1),  # b again the next day, no person asked for
        ConversationDay("e", dt.date(2026, 11, 30), 5, 5),  # outside the period
    ]
    sessions = [
        # asked 23:50 on the 1st, taken 00:05 on the 2nd, closed 00:25: all of it the 1st's
        served(1, at(1, 23, 50), at(2, 0, 5), 7, at(2, 0, 6), at(2, 0, 25), csat=5, conv="b"),
        served(2, at(2, 10), at(2, 10, 1), 8, at(2, 10, 2), at(2, 10, 11), csat=None, conv="x"),
        # 23:59:59 on Nov 30 Shanghai (15:59:59 UTC Nov 30): before the period
        served(3, at(1, 0) - 1, at(1, 0, 1), 7, None, None, conv="z"),
    ]  # fmt: skip
    r = build("default", DEC, "day", convs, sessions, [], now=at(5, 0))
    d1, d2, d3 = (x.metrics for x in r.rows)
    # 1st: a (self-served), b (handed off) → 2 conversations
    assert (d1.conversations, d1.self_served, d1.handed_off, d1.self_service_rate, d1.handoff_rate) == \
        (2, 1, 1, 0.5, 0.5)  # fmt: skip
    # 1st: one session, waited 15 min, first line at 16 min, handled 20 min, rated 5
    assert (d1.sessions, d1.served, d1.wait_avg, d1.first_response_avg, d1.handle_avg, d1.csat_avg) == \
        (1, 1, 900.0, 960.0, 1200.0, 5.0)  # fmt: skip
    # 2nd: d (bot silent) and b (bot only today) → 2 conversations, 1 self-served, none handed off (x's session
    # has no archived lines yet: it counts as a session, not as a conversation)
    assert (d2.conversations, d2.self_served, d2.handed_off) == (2, 1, 0)
    assert (d2.sessions, d2.wait_avg, d2.handle_avg, d2.csat_count, d2.csat_avg) == (1, 60.0, 600.0, 0, None)
    assert d3.conversations == 0 and d3.sessions == 0
    t = r.total
    assert (t.conversations, t.self_served, t.handed_off, t.sessions) == (4, 2, 1, 2)
    assert (t.wait_avg, t.wait_p90, t.handle_avg, t.handle_p90) == (480.0, 900.0, 900.0, 1200.0)
    assert (t.csat_avg, t.csat_count) == (5.0, 1)


def test_by_agent_each_part_counts_for_its_agent() -> None:
    asked = at(2, 9)
    transfer = session_facts(row(1, asked, agent=8, first=asked + 40, closed=asked + 700, csat=2), [
        ev("queued", "waiting", asked), ev("agent_assigned", "active", asked + 20, 7),
        ev("transfer", "waiting", asked + 100), ev("agent_assigned", "active", asked + 400, 8),
        ev("agent_end", "closed", asked + 700)])  # fmt: skip
    left = session_facts(row(3, at(2, 12), closed=at(2, 12, 5)),
                         [ev("queued", "waiting", at(2, 12), sid=3), ev("cancel", "closed", at(2, 12, 5), sid=3)])
    sessions = [transfer, served(2, at(2, 11), at(2, 11, 0, 10), 7, at(2, 11, 0, 20), at(2, 11, 5), csat=4), left]
    tickets = [TicketRow(1, "refund", 7, at(2, 18), at(2, 17)), TicketRow(2, "refund", 8, at(2, 18), None),
               TicketRow(3, "tech", None, at(2, 18), at(2, 19))]  # fmt: skip
    r = build("default", DEC, "agent", [ConversationDay("bot-only", dt.date(2026, 12, 2), 1, 1)], sessions, tickets,
              now=at(3, 0), names={7: "小王", 8: "小李"})  # fmt: skip
    rows = {x.key: x for x in r.rows}
    assert [x.label for x in r.rows] == ["小李", "小王", "未分配"]  # by name; unassigned last
    amy, bob = rows["7"].metrics, rows["8"].metrics
    # agent 7: both sessions; waits 20 and 10; first lines 40 (it held session 1 then) and 20; parts 80 and 290;
    # rated 4 (session 1's rating went to agent 8, who held it last); ticket 1 met
    assert (amy.sessions, amy.wait_avg, amy.first_response_avg, amy.handle_avg, amy.csat_avg) == \
        (2, 15.0, 30.0, 185.0, 4.0)  # fmt: skip
    assert (amy.tickets_due, amy.tickets_met, amy.sla_compliance) == (1, 1, 1.0)
    assert (bob.sessions, bob.wait_avg, bob.first_response_avg, bob.handle_avg, bob.csat_avg) == \
        (1, None, None, 300.0, 2.0)  # fmt: skip
    assert (bob.tickets_due, bob.sla_compliance) == (1, 0.0)  # open past its deadline
    assert amy.conversations is None and amy.handoff_rate is None  # not an agent's figure
    assert rows[""].metrics.tickets_due == 1 and rows[""].metrics.sla_compliance == 0.0  # resolved late
    t = r.total
    assert (t.sessions, t.served, t.abandoned, t.conversations, t.handed_off) == (3, 2, 1, 1, 0)
    assert (t.tickets_due, t.tickets_met, t.sla_compliance) == (3, 1, 0.3333)
    # the session's handle time is both parts (80 + 300), the other 290
    assert t.handle_avg == 335.0


def test_by_category_joins_handoff_reasons_and_ticket_categories() -> None:
    sessions = [served(1, at(1, 9), at(1, 9, 1), 7, None, at(1, 9, 11), csat=1, reason="complaint"),
                served(2, at(1, 9), at(1, 9, 3), 7, None, at(1, 9, 13), reason="after_sales"),
                served(3, at(1, 9), at(1, 9, 5), 7, None, None, reason="complaint")]  # fmt: skip
    tickets = [TicketRow(1, "complaint", 7, at(2, 9), at(2, 8)), TicketRow(2, "logistics", 7, at(2, 9), at(2, 8)),
               TicketRow(3, None, None, at(2, 9), at(2, 8)),
               TicketRow(4, "refund", 7, at(4, 9), at(4, 8)),  # due after the period
               TicketRow(5, "refund", 7, at(3, 23), None)]  # due later tonight: not decided at 22:00  # fmt: skip
    r = build("default", DEC, "category", [], sessions, tickets, now=at(3, 22))
    assert [(x.key, x.label) for x in r.rows] == [("complaint", "投诉"), ("after_sales", "售后"), ("logistics", "物流"),
                                                  ("", "未分类")]  # fmt: skip
    complaint = r.rows[0].metrics
    assert (complaint.sessions, complaint.wait_avg, complaint.handle_avg, complaint.csat_avg) == (2, 180.0, 600.0, 1.0)
    assert (complaint.tickets_due, complaint.tickets_met) == (1, 1)
    assert r.total.tickets_due == 3 and r.total.sla_compliance == 1.0


def test_an_unknown_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="by must be one of day, agent, category"):
        build("default", DEC, "tenant", [], [], [], now=0)


def test_the_csv_keeps_a_formula_like_name_as_text_and_percentages_as_numbers() -> None:
    import csv
    import io

    from handoff.reports.export import filename, to_csv

    f = served(1, at(1, 9), at(1, 9, 1), 7, None, at(1, 9, 2), csat=3)
    r = build("shop/一", DEC, "agent", [], [f], [TicketRow(1, None, 7, at(1, 12), at(1, 11))], now=at(5, 0),
              names={7: "=HYPERLINK(\"http://x\")"})  # fmt: skip
    raw = to_csv(r)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[1][0] == "'=HYPERLINK(\"http://x\")"  # Excel shows it, never runs it
    line = dict(zip(rows[0], rows[1], strict=True))
    assert (line["会话数"], line["SLA达成率(%)"], line["平均排队(秒)"], line["满意度均分"]) == \
        ("", "100.0", "60.0", "3.0")  # fmt: skip
    assert rows[-1][0] == "合计" and len(rows) == 3
    assert filename(r) == "csbot-report-shop__-2026-12-01_2026-12-03-agent.csv"  # ASCII only
