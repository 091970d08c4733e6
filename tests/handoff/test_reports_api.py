"""Period reports over HTTP on a real database (SQLite, and the machine's MariaDB): rows seeded straight into
the tables (tests/handoff/seed_reports.py), numbers checked against the ones worked out by hand there."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.security import Principal, issue_token
from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database
from handoff.app import create_app

from .conftest import Clock, Customers
from .seed_reports import NOW, Seeded, seed

PERIOD = "from=2026-12-01&to=2026-12-02"


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def reports(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[tuple[TestClient, Settings, Seeded]]:
    overrides: dict[str, Any] = {}
    if request.param == "mariadb":
        overrides["database"] = {"url": request.getfixturevalue("mariadb_url")}
    settings = load_settings(env, overrides)
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    seeded = seed(settings, db)
    db.dispose()
    with TestClient(create_app(settings, Customers(), Clock(NOW), run_clock=False)) as c:
        yield c, settings, seeded


def bearer(settings: Settings, role: str, tenant: str = "default") -> dict[str, str]:
    token = issue_token(settings.keyring, Principal(42, tenant, frozenset({role}), "主管"), 600)
    return {"Authorization": f"Bearer {token}"}


def pick(m: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(m[n] for n in names)


def test_the_period_per_day_and_in_total(reports: tuple[TestClient, Settings, Seeded]) -> None:
    c, settings, _ = reports
    r = c.get(f"/api/agent/reports?{PERIOD}&by=day", headers=bearer(settings, "supervisor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert pick(body, "tenant", "by", "from", "to", "timezone") == \
        ("default", "day", "2026-12-01", "2026-12-02", "Asia/Shanghai")  # fmt: skip
    t = body["total"]
    assert pick(t, "conversations", "self_served", "self_service_rate", "handed_off", "handoff_rate") == \
        (4, 1, 0.25, 2, 0.5)  # fmt: skip
    assert pick(t, "sessions", "served", "abandoned") == (3, 2, 1)
    assert pick(t, "wait_avg", "wait_p90", "first_response_avg", "first_response_p90") == (480.0, 900.0, 540.0, 960.0)
    assert pick(t, "handle_avg", "handle_p90") == (990.0, 1380.0)
    assert pick(t, "tickets_due", "tickets_met", "sla_compliance", "csat_avg", "csat_count") == (4, 2, 0.5, 4.5, 2)
    d1, d2 = body["rows"]
    assert (d1["key"], d2["key"]) == ("2026-12-01", "2026-12-02")
    # the 1st: w-a self-served, u-b handed off (asked 23:50; taken, answered and closed after midnight)
    assert pick(d1, "conversations", "self_served", "handed_off", "sessions", "wait_avg", "first_response_avg",
                "handle_avg", "csat_avg", "tickets_due", "tickets_met") == \
        (2, 1, 1, 1, 900.0, 960.0, 1380.0, 4.0, 2, 2)  # fmt: skip
    # the 2nd: u-b's lines after midnight (no bot line, no new request) and u-c (handed off, then cancelled)
    assert pick(d2, "conversations", "self_served", "handed_off", "sessions", "abandoned", "wait_avg",
                "handle_avg", "csat_avg", "tickets_due", "tickets_met", "sla_compliance") == \
        (2, 0, 1, 2, 1, 60.0, 600.0, 5.0, 2, 0, 0.0)  # fmt: skip


def test_per_agent_and_per_category(reports: tuple[TestClient, Settings, Seeded]) -> None:
    c, settings, seeded = reports
    rows = c.get(f"/api/agent/reports?{PERIOD}&by=agent", headers=bearer(settings, "supervisor")).json()["rows"]
    assert [(r["key"], r["label"]) for r in rows] == [(str(seeded.bob), "小李"), (str(seeded.amy), "小王"),
                                                      ("", "未分配")]  # fmt: skip
    bob, amy, nobody = rows
    # 小王 took both served sessions first and answered both; their parts were 300 and 600; rated 5 (u-b's 4
    # went to 小李, who closed it)
    assert pick(amy, "sessions", "wait_avg", "first_response_avg", "handle_avg", "csat_avg", "tickets_due",
                "tickets_met") == (2, 480.0, 540.0, 450.0, 5.0, 1, 1)  # fmt: skip
    assert pick(bob, "sessions", "wait_avg", "handle_avg", "csat_avg", "tickets_due", "sla_compliance") == \
        (1, None, 1080.0, 4.0, 1, 0.0)  # fmt: skip
    assert pick(nobody, "sessions", "tickets_due", "tickets_met") == (0, 2, 1)
    assert amy["conversations"] is None
    cats = c.get(f"/api/agent/reports?{PERIOD}&by=category", headers=bearer(settings, "supervisor")).json()["rows"]
    assert [(r["key"], r["label"], r["sessions"], r["tickets_due"], r["tickets_met"]) for r in cats] == [
        ("complaint", "投诉", 1, 1, 0), ("after_sales", "售后", 1, 0, 0), ("other", "咨询", 1, 0, 0),
        ("refund", "退款", 0, 1, 1), ("logistics", "物流", 0, 1, 0), ("", "未分类", 0, 1, 1)]  # fmt: skip


def test_csv_for_excel(reports: tuple[TestClient, Settings, Seeded]) -> None:
    c, settings, _ = reports
    r = c.get(f"/api/agent/reports.csv?{PERIOD}&by=day", headers=bearer(settings, "supervisor"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == \
        'attachment; filename="csbot-report-default-2026-12-01_2026-12-02-day.csv"'  # fmt: skip
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Chinese
    assert b"\r\n" in r.content
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:4] == ["日期", "会话数", "机器人独立解决", "机器人自助率(%)"]
    assert [row[0] for row in table[1:]] == ["2026-12-01", "2026-12-02", "合计"]
    total = dict(zip(table[0], table[-1], strict=True))
    assert (total["会话数"], total["机器人自助率(%)"], total["转人工率(%)"], total["平均排队(秒)"]) == \
        ("4", "25.0", "50.0", "480.0")  # fmt: skip
    assert (total["SLA达成率(%)"], total["满意度均分"], total["评价数"]) == ("50.0", "4.5", "2")


def test_the_tenant_comes_from_the_token(reports: tuple[TestClient, Settings, Seeded]) -> None:
    c, settings, _ = reports
    acme = c.get(f"/api/agent/reports?{PERIOD}", headers=bearer(settings, "supervisor", "acme")).json()
    assert acme["tenant"] == "acme"
    assert pick(acme["total"], "conversations", "self_served", "sessions", "csat_avg", "tickets_due") == \
        (1, 1, 1, 1.0, 1)  # fmt: skip
    # a supervisor cannot ask for another tenant; an admin can
    other = c.get(f"/api/agent/reports?{PERIOD}&tenant=default", headers=bearer(settings, "supervisor", "acme"))
    assert other.status_code == 403 and "admin" in other.json()["error"]
    admin = c.get(f"/api/agent/reports?{PERIOD}&tenant=acme", headers=bearer(settings, "admin"))
    assert admin.status_code == 200 and admin.json()["total"]["sessions"] == 1


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-12-08&to=2026-12-01", "from (2026-12-08) is after to (2026-12-01)"),
    ("from=2025-01-01&to=2026-12-01", "at most 366 days"),
    ("from=2026-12-1&to=2026-12-07", "from must be a date YYYY-MM-DD"),
    ("from=2026-12-01&to=12%2F07%2F2026", "to must be a date YYYY-MM-DD"),
    ("to=2026-12-07", "from is required"),
    (f"{PERIOD}&by=tenant", "by must be one of day, agent, category"),
])  # fmt: skip
def test_bad_input_is_a_400_that_says_why(reports: tuple[TestClient, Settings, Seeded], query: str,
                                          message: str) -> None:  # fmt: skip
    c, settings, _ = reports
    for path in ("/api/agent/reports", "/api/agent/reports.csv"):
        r = c.get(f"{path}?{query}", headers=bearer(settings, "supervisor"))
        assert r.status_code == 400 and message in r.json()["error"], (path, r.text)


def test_who_may_ask(reports: tuple[TestClient, Settings, Seeded]) -> None:
    c, settings, _ = reports
    for path in ("/api/agent/reports", "/api/agent/reports.csv"):
        assert c.get(f"{path}?{PERIOD}").status_code == 401
        assert c.get(f"{path}?{PERIOD}", headers=bearer(settings, "agent")).status_code == 403
        assert c.get(f"{path}?{PERIOD}", headers=bearer(settings, "kb_admin")).status_code == 403
        assert c.get(f"{path}?{PERIOD}", headers=bearer(settings, "supervisor")).status_code == 200


def test_an_empty_period(reports: tuple[TestClient, Settings, Seeded]) -> None:
    c, settings, _ = reports
    body = c.get("/api/agent/reports?from=2026-06-01&to=2026-06-03", headers=bearer(settings, "supervisor")).json()
    assert len(body["rows"]) == 3 and all(r["conversations"] == 0 and r["sessions"] == 0 for r in body["rows"])
    assert pick(body["total"], "self_service_rate", "wait_avg", "csat_avg", "csat_count", "sla_compliance") == \
        (None, None, None, 0, None)  # fmt: skip


@pytest.mark.mariadb
def test_every_report_query_can_use_an_index(env: dict[str, str], mariadb_url: str) -> None:
    """The statements a report runs, EXPLAINed on MariaDB: each table is reached through an index on what the
    query bounds (the tenant's day of the archive, a primary-key range, the tickets' deadlines), never only
    by a full scan."""
    from sqlalchemy import event, text

    from handoff.reports.periods import parse_period
    from handoff.reports.service import report

    settings = load_settings(env, {"database": {"url": mariadb_url}})
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", record)
    report(db, "default", parse_period("2026-12-01", "2026-12-02", "Asia/Shanghai"), "agent", NOW)
    event.remove(db.engine, "before_cursor_execute", record)
    wanted = {"cs_message": "idx_msg_tenant_time", "cs_session": "PRIMARY", "cs_session_event": "idx_session_event",
              "cs_ticket": "idx_ticket_due"}  # fmt: skip
    found: dict[str, set[str]] = {}
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for statement, params in seen:
            with raw.cursor() as cur:
                cur.execute("EXPLAIN " + statement, params)
                names = [d[0] for d in cur.description]
                for plan in cur.fetchall():
                    row = dict(zip(names, plan, strict=True))
                    found.setdefault(row["table"], set()).update((row["possible_keys"] or "").split(","))
        conn.execute(text("SELECT 1"))
    for table, index in wanted.items():
        assert index in found.get(table, set()), (table, found)
    db.dispose()
