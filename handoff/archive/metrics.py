"""The archive process's metrics, read at scrape from the readers' own counters (what ``/health`` shows):
lines archived, parked and indexed since the process started, each reader's lag and whether its last pass
failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


def families(parts: Mapping[str, Any], loops: Callable[[], Sequence[Any]]) -> Iterator[Any]:
    archiver, indexer = parts.get("archiver"), parts.get("indexer")
    if archiver is not None:
        c = archiver.counters
        yield CounterMetricFamily("csbot_archive_archived", "Lines handed to cs_message (a replay counts again)",
                                  value=c.archived)  # fmt: skip
        yield CounterMetricFamily("csbot_archive_parked", "Records parked in cs_dead_letter", value=c.parked)
    if indexer is not None:
        yield CounterMetricFamily("csbot_archive_indexed", "Lines added to the message search index",
                                  value=indexer.indexed)  # fmt: skip
    lag = GaugeMetricFamily("csbot_archive_lag_seconds", "End-to-end lag of each reader's last batch (written → "
                            "archived or indexed)", labels=["reader"])  # fmt: skip
    if archiver is not None:
        lag.add_metric(["archiver"], archiver.counters.last_lag_seconds)
    if indexer is not None:
        lag.add_metric(["search-index"], indexer.last_lag_seconds)
    yield lag
    up = GaugeMetricFamily("csbot_archive_reader_ok", "1 while a reader's last pass succeeded, 0 while it fails",
                           labels=["reader"])  # fmt: skip
    for lp in loops():
        up.add_metric([lp.name], 0.0 if lp.error else 1.0)
    yield up
