"""``csbot reports``: the same numbers as the API, straight from the database, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.settings import Settings
from bot.storage import migrate
from bot.storage.db import Database
from handoff.reports.cli import app

from .seed_reports import seed


@pytest.fixture
def seeded_home(settings: Settings, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    seed(settings, db)
    db.dispose()


def test_json_table_and_csv(seeded_home: None, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["--from", "2026-12-01", "--to", "2026-12-02", "--json"])
    assert r.exit_code == 0, r.output
    total = json.loads(r.output)["total"]
    assert (total["conversations"], total["self_service_rate"], total["wait_p90"], total["sla_compliance"]) == \
        (4, 0.25, 900.0, 0.5)  # fmt: skip
    out = tmp_path / "周报.csv"
    r = CliRunner().invoke(app, ["--from", "2026-12-01", "--to", "2026-12-02", "--by", "agent", "--csv", str(out)])
    assert r.exit_code == 0, r.output
    assert "小王" in r.output and "合计" in r.output and "CSV written" in r.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [row[0] for row in rows] == ["客服", "小李", "小王", "未分配", "合计"]
    assert dict(zip(rows[0], rows[2], strict=True))["平均处理时长(秒)"] == "450.0"  # 小王's parts: 300 and 600
    acme = CliRunner().invoke(app, ["--from", "2026-12-01", "--to", "2026-12-02", "--tenant", "acme", "--json"])
    assert json.loads(acme.output)["total"]["sessions"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-12-09", "--to", "2026-12-01"], "is after to"),
    (["--from", "someday", "--to", "2026-12-01"], "from must be a date"),
    (["--from", "2026-12-01", "--to", "2026-12-02", "--by", "week"], "must be one of day, agent, category"),
])  # fmt: skip
def test_bad_input_is_a_usage_error(seeded_home: None, args: list[str], message: str) -> None:
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and message in r.output
