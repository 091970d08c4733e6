"""The report page in a real browser (Playwright driving Debian's Chromium) against the handoff service on a
real port and a seeded SQLite home: a supervisor goes from the inbox to the reports, sees the hand-worked
numbers in the cards, the table and the charts, switches to per agent, downloads the CSV, and gets a clear
message for a bad period. A screenshot goes to ``$CSBOT_ARTIFACTS`` (default ``results/screens``)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.settings import Settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.users import UserService
from handoff.app import create_app

from ..conftest import REPO, free_port
from .conftest import Clock, Customers
from .seed_reports import NOW, seed

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
SHOTS = Path(os.environ.get("CSBOT_ARTIFACTS") or REPO / "results" / "screens")


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    """The handoff service (reports, inbox, log-in) on a free port, over a seeded database."""
    import uvicorn

    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    seed(settings, db)
    UserService(db).create("default", "zhuguan", "主管", {"supervisor"}, "password-123")
    db.dispose()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, Customers(), Clock(NOW), run_clock=False),
                                           host="127.0.0.1", port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the handoff service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_page_is_served_with_the_inbox_policy(settings: Settings) -> None:
    with TestClient(create_app(settings, Customers(), Clock(NOW), run_clock=False)) as c:
        page = c.get("/reports")
        assert page.status_code == 200 and "统计报表" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert c.get("/reports/static/reports.js").headers["content-type"].startswith("application/javascript")
        assert c.get("/reports/static/inbox.js").status_code == 404  # only its own files
        assert 'href="/reports"' in c.get("/inbox").text  # the inbox links here


def until(page: object, expression: str, timeout: float = 15) -> None:
    """Poll a JavaScript expression (the page's CSP forbids the eval behind wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)


def cell(page: object, key: str, field: str) -> str:
    return str(page.text_content(f'tr[data-key="{key}"] td[data-field="{field}"]'))  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_supervisor_reads_the_report_and_downloads_the_csv(served: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        failed: list[str] = []
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

        # from the inbox, with its log-in
        page.goto(f"{served}/inbox")
        page.fill("#login-name", "zhuguan")
        page.fill("#login-password", "password-123")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#open-reports", state="visible")
        page.click("#open-reports")
        page.wait_for_url(f"{served}/reports**")  # the page then writes its period into the query
        page.wait_for_selector("#board:not([hidden])")

        page.fill("#from", "2026-12-01")
        page.fill("#to", "2026-12-02")
        page.click("#run")
        until(page, "document.getElementById('status').textContent.indexOf('2026-12-01 至 2026-12-02') >= 0")
        cards = {f: page.text_content(f'.card[data-field="{f}"] b') for f in (
            "conversations", "self_service_rate", "handoff_rate", "sessions", "wait_avg", "wait_p90",
            "first_response_avg", "handle_avg", "sla_compliance", "csat_avg")}  # fmt: skip
        assert cards == {"conversations": "4", "self_service_rate": "25.0%", "handoff_rate": "50.0%",
                         "sessions": "3", "wait_avg": "8.0 分钟", "wait_p90": "15.0 分钟",
                         "first_response_avg": "9.0 分钟", "handle_avg": "16.5 分钟", "sla_compliance": "50.0%",
                         "csat_avg": "4.5"}  # fmt: skip
        assert (cell(page, "2026-12-01", "conversations"), cell(page, "2026-12-01", "handle_avg")) == ("2", "23.0 分钟")
        assert (cell(page, "2026-12-02", "abandoned"), cell(page, "2026-12-02", "sla_compliance")) == ("1", "0.0%")
        assert cell(page, "total", "csat_count") == "2"
        # the volume chart: 2 days × (self-served, handed off, other); the 1st's self-served bar is 1
        assert page.locator("#volume rect").count() == 6
        first_day = '#volume rect[data-label="2026-12-01"][data-series="机器人自助"]'
        assert page.get_attribute(first_day, "data-value") == "1"
        assert page.locator("#times rect").count() == 6
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "reports-by-day.png"), full_page=True)

        page.select_option("#by", "agent")
        page.click("#run")
        until(page, "location.search.indexOf('by=agent') >= 0 && !!document.querySelector('#rows th') && "
                    "document.querySelector('#rows th').textContent === '小李'")  # fmt: skip
        assert page.locator("#rows th").all_text_contents() == ["小李", "小王", "未分配"]
        assert page.text_content('#rows tr:nth-child(2) td[data-field="handle_avg"]') == "7.5 分钟"  # 300 s and 600 s
        assert page.text_content('#rows tr:nth-child(3) td[data-field="conversations"]') == "—"

        with page.expect_download() as download:
            page.click("#export")
        d = download.value
        assert d.suggested_filename == "csbot-report-default-2026-12-01_2026-12-02-agent.csv"
        saved = tmp_path / d.suggested_filename
        d.save_as(str(saved))
        raw = saved.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") and "小王".encode() in raw
        assert raw.decode("utf-8-sig").splitlines()[-1].startswith("合计,4,1,25.0,2,50.0,3,2,1,480.0,900.0")

        page.fill("#from", "2026-12-09")
        page.click("#run")
        until(page, "document.getElementById('status').classList.contains('bad')")
        assert "is after" in str(page.text_content("#status"))
        assert not errors, errors  # no script error on either page
        assert failed == [f"400 {served}/api/agent/reports?from=2026-12-09&to=2026-12-02&by=agent"]

        # a fresh tab has no token: the page asks to log in, then shows the report
        fresh = browser.new_context().new_page()
        fresh.goto(f"{served}/reports?from=2026-12-01&to=2026-12-02&by=category")
        fresh.wait_for_selector("#login:not([hidden])")
        fresh.fill("#login-name", "zhuguan")
        fresh.fill("#login-password", "password-123")
        fresh.click("#login-form button[type=submit]")
        until(fresh, "!!document.querySelector('#rows th')")
        assert fresh.locator("#rows th").all_text_contents() == ["投诉", "售后", "咨询", "退款", "物流", "未分类"]
        browser.close()
