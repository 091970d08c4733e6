"""``csbot reports --from 2026-12-01 --to 2026-12-07 --by day [--csv FILE] [--json] [--tenant T]``: the same
report as ``GET /api/agent/reports``, read straight from the database (no running service needed)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bot.errors import InvalidInput
from bot.settings import load_settings
from bot.storage.db import Database
from handoff.config import HandoffConfig
from handoff.reports.export import to_csv
from handoff.reports.metrics import BY, Metrics, Report
from handoff.reports.periods import parse_period
from handoff.reports.service import report

out = Console()
app = typer.Typer(help="Reports: self-service and handoff rates, waits, handle time, SLA, CSAT for a period.")


def _secs(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} s" if x < 60 else f"{x / 60:.1f} min"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _line(label: str, m: Metrics) -> list[str]:
    return [label, "—" if m.conversations is None else str(m.conversations), _pct(m.self_service_rate),
            _pct(m.handoff_rate), str(m.sessions), f"{_secs(m.wait_avg)} / {_secs(m.wait_p90)}",
            _secs(m.first_response_avg), _secs(m.handle_avg),
            f"{_pct(m.sla_compliance)} ({m.tickets_met}/{m.tickets_due})",
            "—" if m.csat_avg is None else f"{m.csat_avg} ({m.csat_count})"]  # fmt: skip


def _table(r: Report) -> Table:
    first = {"day": "日期", "agent": "客服", "category": "类别"}[r.by]
    table = Table(first, "会话", "自助率", "转人工率", "人工会话", "排队 均值/P90", "首响", "处理时长", "SLA", "满意度",
                  title=f"{r.tenant} · {r.period.first} – {r.period.last} ({r.period.timezone})")  # fmt: skip
    for row in r.rows:
        table.add_row(*_line(row.label, row.metrics))
    table.add_row(*_line("合计", r.total), style="bold")
    return table


@app.callback(invoke_without_command=True)
def reports(first: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD (the shop's time zone)."),
            last: str = typer.Option(..., "--to", help="Last day, inclusive (at most 366 days)."),
            by: str = typer.Option("day", "--by", help="day, agent or category."),
            csv_file: Path = typer.Option(None, "--csv", help="Also write the CSV (UTF-8, BOM) here; - for stdout."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
            tenant: str = typer.Option("", help="Tenant (default: tenant.default).")) -> None:  # fmt: skip
    """A period's report per day, agent or category, with the total."""
    if by not in BY:
        raise typer.BadParameter(f"must be one of {', '.join(BY)}", param_hint="--by")
    s = load_settings()
    cfg = HandoffConfig.from_mapping(s.raw.get("handoff"))
    try:
        period = parse_period(first, last, cfg.timezone)
    except InvalidInput as exc:  # a usage error (exit 2), as the option parser's own
        raise typer.BadParameter(str(exc)) from None
    db = Database.from_settings(s)
    try:
        r = report(db, tenant or s.default_tenant, period, by, time.time())
    finally:
        db.dispose()
    if csv_file is not None:
        if str(csv_file) == "-":
            sys.stdout.buffer.write(to_csv(r))
            return
        csv_file.write_bytes(to_csv(r))
    if as_json:
        print(json.dumps(r.to_json(), ensure_ascii=False, indent=2))
    else:
        out.print(_table(r))
    if csv_file is not None:
        out.print(f"CSV written to {csv_file}", style="dim")
