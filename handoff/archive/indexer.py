"""The search indexer: its own reader group (``search-index``) putting a PII-masked copy of every line into the
message index (``handoff.search``). Apart from the archiver so the slower indexing never holds the archive back,
and so the index can be rebuilt by resetting one group. ``add`` is idempotent by ``msg_id``: a batch read again
after a crash replaces what it wrote. Records that are not events are left to the archiver to park.
"""

from __future__ import annotations

import time
from typing import Any

from bot.events.envelope import BadEvent, parse
from bot.events.stream import Consumer

GROUP = "search-index"


class Indexer:
    def __init__(self, consumer: Consumer, index: Any, batch: int = 2000) -> None:
        self.consumer = consumer
        self.index = index
        self.batch = batch
        self.indexed = 0
        self.last_lag_seconds = 0.0

    def run_once(self, timeout: float = 0.5) -> int:
        from handoff.search import indexed_from

        records = self.consumer.poll(self.batch, timeout)
        if not records:
            return 0
        docs, newest = [], 0.0
        for r in records:
            try:
                e = parse(r.value)
            except BadEvent:
                continue
            doc = indexed_from(e)
            if doc is not None:
                docs.append(doc)
                newest = max(newest, e.at)
        try:
            if docs:
                self.index.add(docs)
        except BaseException:
            rewind = getattr(self.consumer, "rewind", None)
            if rewind is not None:
                rewind()
            raise
        self.consumer.commit(records)
        self.indexed += len(docs)
        self.last_lag_seconds = max(0.0, time.time() - newest) if docs else 0.0
        return len(records)
