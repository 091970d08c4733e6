"""Reports for supervisors: today's numbers (``today``) and period reports per day, agent or category
(``periods`` → ``queries`` → ``metrics``, served by ``api``, exported by ``export``, run by ``cli``).

The arithmetic is pure functions over small row dataclasses; only ``queries`` touches the database."""

from handoff.reports.today import DayCounts, SessionTimes, day_counts, day_start

__all__ = ["DayCounts", "SessionTimes", "day_counts", "day_start"]
