"""Today's counts of the supervisor view (pure)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from handoff.reports import DayCounts, SessionTimes, day_counts, day_start


def test_the_day_begins_at_the_shops_midnight() -> None:
    cn = ZoneInfo("Asia/Shanghai")
    shanghai = dt.datetime(2026, 12, 1, 0, 30, tzinfo=cn).timestamp()  # 16:30 UTC the day before
    assert day_start(shanghai, "Asia/Shanghai") == dt.datetime(2026, 12, 1, tzinfo=cn).timestamp()
    assert day_start(shanghai, "UTC") == dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc).timestamp()


def test_counts_and_averages() -> None:
    rows = [
        SessionTimes(100.0, 100.0, 130.0, 140.0, True, 1, 5),  # served, answered 40 s after asking, rated 5
        SessionTimes(100.0, 100.0, 190.0, None, False, 2, None),  # served, not answered yet
        SessionTimes(200.0, 200.0, None, None, True, None, None),  # gave up in the queue
        SessionTimes(300.0, 300.0, None, None, False, None, None),  # still waiting
        # answered at 110, transferred (queued again at 150), taken again at 160: the first line counts
        SessionTimes(100.0, 150.0, 160.0, 110.0, True, 1, 2),
    ]
    assert day_counts(rows) == DayCounts(requests=5, served=3, abandoned=1, waiting=1, closed=3,
                                         avg_wait_seconds=round((30 + 90 + 10) / 3, 1),
                                         avg_first_response_seconds=25.0, csat_avg=3.5, csat_count=2)  # fmt: skip
    empty = day_counts([])
    assert empty.requests == 0 and empty.avg_wait_seconds is None and empty.csat_avg is None
