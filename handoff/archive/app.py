"""The archive process (``python -m handoff.archive``): the archiver and the search indexer, each a reader group
in its own thread, ``/health`` on ``services.archive_port``; with ``events.type: kafka`` also the relay moving
the outboxes to Kafka. ``archive.index: false`` leaves the indexer out (run it elsewhere, or no search).

A failed pass (the database or the broker away) is logged and retried after a pause; nothing is committed to
the stream for it, so nothing is lost. ``/health`` answers 503 while passes fail.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.crypto import cipher_from_settings
from bot.events.stream import create_consumer
from bot.metrics import register_collector
from bot.settings import Settings
from bot.storage.db import Database
from bot.web import Auth
from handoff.archive import forget
from handoff.archive import metrics as archive_metrics
from handoff.archive.archiver import GROUP, Archiver
from handoff.archive.indexer import GROUP as INDEX_GROUP
from handoff.archive.indexer import Indexer
from handoff.privacy.daily import idle, retention_job

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


class Loop:
    """Runs ``step`` until stopped; remembers the last failure for /health."""

    def __init__(self, name: str, step: Callable[[], int], every: Callable[[], None] | None = None) -> None:
        self.name, self.step, self.every = name, step, every
        self.stop = threading.Event()
        self.error = ""
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        last_chore = 0.0
        while not self.stop.is_set():
            try:
                self.step()
                self.error = ""
                if self.every is not None and time.monotonic() - last_chore > 60:
                    last_chore = time.monotonic()
                    self.every()
            except Exception as exc:  # the database or broker away: retry, never die
                self.error = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.exception("%s pass failed; retrying", self.name)
                self.stop.wait(RETRY_SECONDS)


def create_app(settings: Settings) -> Starlette:
    options = dict(settings.raw.get("archive") or {})
    db = Database.from_settings(settings)
    parts: dict[str, Any] = {}
    loops: list[Loop] = []
    register_collector("archive", lambda: archive_metrics.families(parts, lambda: loops))

    def build() -> None:
        batch = int(options.get("batch", 2000))
        consumer = create_consumer(settings, GROUP)
        archiver = Archiver(db, consumer, cipher_from_settings(settings), batch)
        keep = float(settings.backend("events").get("outbox_keep_seconds", 3600))
        purge = getattr(consumer, "purge", None)
        parts.update(consumer=consumer, archiver=archiver)
        loops.append(Loop("archiver", archiver.run_once, (lambda: purge(keep)) if purge else None))
        if options.get("index", True):
            from handoff.search import create_message_index

            index_consumer = create_consumer(settings, INDEX_GROUP)
            indexer = Indexer(index_consumer, create_message_index(settings), batch)
            parts.update(index_consumer=index_consumer, index=indexer.index, indexer=indexer)
            loops.append(Loop("search-index", indexer.run_once))
        if settings.backend("events").type == "kafka":
            from bot.events.stream.kafka import KafkaRelay

            relay = KafkaRelay(settings)
            parts["relay"] = relay
            loops.append(Loop("stream-relay", relay.run_once))
        retention = retention_job(settings, db, parts.get("index"))  # privacy.retention_days > 0: purged daily here
        if retention is not None:
            parts["privacy"] = retention.service
            loops.append(Loop("privacy-retention", idle, retention.run_once))

    async def health(request: Request) -> JSONResponse:
        archiver: Archiver | None = parts.get("archiver")
        errors = {lp.name: lp.error for lp in loops if lp.error}
        body: dict[str, Any] = {"status": "degraded" if errors or archiver is None else "ok", "errors": errors}
        if archiver is not None:
            c = archiver.counters
            body.update(archived=c.archived, parked=c.parked, batches=c.batches,
                        lag_seconds=round(c.last_lag_seconds, 3))  # fmt: skip
        indexer: Indexer | None = parts.get("indexer")
        if indexer is not None:
            body.update(indexed=indexer.indexed, index_lag_seconds=round(indexer.last_lag_seconds, 3))
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        build()
        for lp in loops:
            lp.thread.start()
        yield
        for lp in loops:
            lp.stop.set()
        for lp in loops:
            lp.thread.join(timeout=10)
        for name in ("relay", "consumer", "index_consumer", "privacy", "index"):
            part = parts.get(name)
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
        db.dispose()

    # a privacy erase elsewhere asks this process, the index's one writer, to delete (handoff.privacy.search)
    forget_routes = forget.routes(lambda: parts.get("index"), Auth(settings.keyring))
    return Starlette(routes=[Route("/health", health), *forget_routes], lifespan=lifespan)
