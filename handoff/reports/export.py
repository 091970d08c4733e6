"""A report as CSV for Excel: UTF-8 with a BOM (without it Excel reads Chinese as the ANSI code page), CRLF,
Chinese headers, rates in percent, one row per group and the period's total last."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict
from typing import Any

from handoff.reports.metrics import Metrics, Report

BOM = "\ufeff"
FIRST = {"day": "日期", "agent": "客服", "category": "类别"}
# (field, header, percent?)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("conversations", "会话数", False),
    ("self_served", "机器人独立解决", False),
    ("self_service_rate", "机器人自助率(%)", True),
    ("handed_off", "转人工会话", False),
    ("handoff_rate", "转人工率(%)", True),
    ("sessions", "人工会话", False),
    ("served", "已接待", False),
    ("abandoned", "排队放弃", False),
    ("wait_avg", "平均排队(秒)", False),
    ("wait_p90", "排队P90(秒)", False),
    ("first_response_avg", "平均首次响应(秒)", False),
    ("first_response_p90", "首次响应P90(秒)", False),
    ("handle_avg", "平均处理时长(秒)", False),
    ("handle_p90", "处理时长P90(秒)", False),
    ("tickets_due", "到期工单", False),
    ("tickets_met", "按时解决工单", False),
    ("sla_compliance", "SLA达成率(%)", True),
    ("csat_avg", "满意度均分", False),
    ("csat_count", "评价数", False),
)


def _cell(value: Any, percent: bool) -> str:
    if value is None:
        return ""
    if percent:
        return f"{value * 100:.1f}"
    return str(value)


def _text(value: str) -> str:
    """A name that Excel would run as a formula (=, +, -, @, a tab) is kept as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _line(label: str, m: Metrics) -> list[str]:
    values = asdict(m)
    return [_text(label)] + [_cell(values[name], pct) for name, _, pct in COLUMNS]


def to_csv(report: Report) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([FIRST[report.by]] + [header for _, header, _ in COLUMNS])
    for row in report.rows:
        w.writerow(_line(row.label, row.metrics))
    w.writerow(_line("合计", report.total))
    return (BOM + out.getvalue()).encode("utf-8")


def filename(report: Report) -> str:
    """ASCII only, so every browser keeps it: ``csbot-report-default-2026-12-01_2026-12-07-day.csv``."""
    tenant = re.sub(r"[^A-Za-z0-9_-]", "_", report.tenant)[:40] or "tenant"
    p = report.period
    return f"csbot-report-{tenant}-{p.first.isoformat()}_{p.last.isoformat()}-{report.by}.csv"
