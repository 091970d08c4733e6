"""Today's numbers for the supervisor view: pure functions over the day's sessions (``repository.day``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SessionTimes:
    """What the counts read of one session: when the customer asked, when it was (last) queued and taken, when
    an agent first wrote, and how it ended. A transfer queues and assigns again; the first line stays."""

    requested_at: float
    queued_at: float
    assigned_at: float | None
    first_response_at: float | None
    closed: bool
    agent_id: int | None
    csat: int | None


@dataclass(frozen=True)
class DayCounts:
    requests: int  # customers who asked for a person and were queued
    served: int  # taken by an agent
    abandoned: int  # closed before any agent took them (the customer cancelled or left, or nobody came)
    waiting: int
    closed: int
    avg_wait_seconds: float | None  # (last) queued → taken, over the served
    avg_first_response_seconds: float | None  # asked for a person → an agent's first line
    csat_avg: float | None
    csat_count: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def day_start(now: float, timezone: str) -> float:
    """The epoch second at which the day containing ``now`` began, in the shop's time zone."""
    local = dt.datetime.fromtimestamp(now, ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _avg(values: list[float]) -> float | None:
    return round(mean(values), 1) if values else None


def day_counts(rows: Iterable[SessionTimes]) -> DayCounts:
    rows = list(rows)
    served = [r for r in rows if r.assigned_at is not None]
    scores = [r.csat for r in rows if r.csat is not None]
    return DayCounts(
        requests=len(rows),
        served=len(served),
        abandoned=sum(1 for r in rows if r.closed and r.assigned_at is None),
        waiting=sum(1 for r in rows if not r.closed and r.assigned_at is None),
        closed=sum(1 for r in rows if r.closed),
        avg_wait_seconds=_avg([max(0.0, r.assigned_at - r.queued_at) for r in served if r.assigned_at is not None]),
        avg_first_response_seconds=_avg([max(0.0, r.first_response_at - r.requested_at) for r in served
                                         if r.first_response_at is not None]),
        csat_avg=_avg([float(s) for s in scores]),
        csat_count=len(scores),
    )  # fmt: skip
