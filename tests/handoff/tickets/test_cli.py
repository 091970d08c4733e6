"""``csbot tickets``: open a ticket from a chat, list, move, comment and show it from a terminal, on this home's
database; an illegal move stops with the reason."""

from __future__ import annotations

import os
import subprocess

import pytest
from typer.testing import CliRunner

from bot.settings import Settings
from bot.storage.db import Database
from handoff import assignment as a
from handoff.tickets.cli import app

from ...conftest import REPO
from ..conftest import make_desk


@pytest.fixture
def home_env(settings: Settings, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from handoff.tickets import cli

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(cli.out, "width", 200)  # a wide terminal: whole table cells
    return env


def test_the_ticket_commands(settings: Settings, home_env: dict[str, str]) -> None:
    db = Database.from_settings(settings)
    desk = make_desk(db)
    agent = desk.agent("xiaowang")
    sid = desk.ask("cli-1").session_id
    a.take(desk.svc, agent, sid)  # type: ignore[arg-type]
    cli = CliRunner()
    r = cli.invoke(app, ["create", "快递破损", "--session", str(sid), "--category", "logistics", "--as", "xiaowang"])
    assert r.exit_code == 0, r.output
    number = r.output.split()[0]
    assert number.startswith("T") and "物流" in r.output and "新建" in r.output
    r = cli.invoke(app, ["list", "--status", "new"])
    assert r.exit_code == 0 and number in r.output and "快递破损" in r.output
    assert cli.invoke(app, ["move", number, "in_progress", "--as", "xiaowang"]).exit_code == 0
    assert cli.invoke(app, ["comment", number, "已联系快递", "--as", "xiaowang"]).exit_code == 0
    r = cli.invoke(app, ["move", number, "new"])
    assert r.exit_code != 0 and "cannot move" in str(r.exception)
    r = cli.invoke(app, ["show", number])
    assert r.exit_code == 0 and "处理中" in r.output and "已联系快递" in r.output
    r = cli.invoke(app, ["create", "x", "--session", "123"])
    assert r.exit_code != 0 and "no session 123" in str(r.exception)
    db.dispose()
    # registered with the csbot command (the csbot.commands entry point)
    run = subprocess.run([str(REPO / ".venv/bin/csbot"), "tickets", "list"], capture_output=True, text=True,
                         env={**os.environ, **home_env, "COLUMNS": "200"}, timeout=60)  # fmt: skip
    assert run.returncode == 0 and number in run.stdout, run.stderr
