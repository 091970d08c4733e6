"""The retention purge as the archive process runs it (``handoff.archive.app``): a loop thread that asks once a
minute whether today's purge is due (``bot.privacy.retention``). Here because the archive process holds the
message index's one writer, so the purge deletes from it directly."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from bot.privacy.retention import RetentionConfig, RetentionJob
from bot.storage.db import Database

IDLE_SECONDS = 1.0  # the loop's step: short, so the process stops promptly; the job itself is asked every 60 s


def retention_job(settings: Any, db: Database, index: Any = None) -> RetentionJob | None:
    """The daily job, or None while ``privacy.retention_days`` is 0."""
    config = RetentionConfig.from_settings(settings)
    if config.retention_days <= 0:
        return None
    from handoff.privacy import build_service

    known = tuple(str(t) for t in (settings.raw.get("identity") or {}).get("tenants") or {})
    return RetentionJob(build_service(settings, db=db, index=index), db, config, settings.default_tenant, known,
                        owner=f"{socket.gethostname()}:{os.getpid()}")  # fmt: skip


def idle() -> int:
    time.sleep(IDLE_SECONDS)
    return 0
