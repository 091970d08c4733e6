"""A report's period: whole days in the shop's time zone (``handoff.timezone``), from the first to the last
inclusive, and the checks on what a caller asks for (400 with a message saying what is wrong)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.errors import InvalidInput

MAX_DAYS = 366  # a leap year: a year-on-year report fits, a scan of the whole history does not


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date  # inclusive
    timezone: str

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def midnight(self, day: dt.date) -> float:
        """The epoch second the shop's ``day`` begins (a DST change at midnight resolves like ``day_start``)."""
        return dt.datetime.combine(day, dt.time(), ZoneInfo(self.timezone)).timestamp()

    def bounds(self) -> tuple[float, float]:
        """[start, end) in epoch seconds."""
        return self.midnight(self.first), self.midnight(self.last + dt.timedelta(days=1))

    def day_bounds(self) -> list[tuple[dt.date, float, float]]:
        """Each day with its own [start, end): a day is 23 or 25 hours long where the clocks change."""
        return [(d, self.midnight(d), self.midnight(d + dt.timedelta(days=1))) for d in self.days]

    def day_of(self, ts: float) -> dt.date:
        return dt.datetime.fromtimestamp(ts, ZoneInfo(self.timezone)).date()

    def holds(self, ts: float) -> bool:
        start, end = self.bounds()
        return start <= ts < end


def _date(name: str, text: str | None) -> dt.date:
    if not text:
        raise InvalidInput(f"{name} is required, as a date YYYY-MM-DD")
    try:
        if len(text) != 10:  # fromisoformat also takes 20261201 and week dates: one spelling only
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a date YYYY-MM-DD, not {text[:40]!r}") from None


def parse_period(first: str | None, last: str | None, timezone: str) -> Period:
    start, end = _date("from", first), _date("to", last)
    if start > end:
        raise InvalidInput(f"from ({start}) is after to ({end})")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days; {start}..{end} is {days}")
    return Period(start, end, timezone)


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile by nearest rank: a value that was really measured, 90 % of the others at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 1)


def avg(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
