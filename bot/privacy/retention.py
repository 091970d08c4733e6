"""Retention: conversations are not kept forever (《个人信息保护法》 §19). With ``privacy.retention_days: N`` the
archive process removes, once a day after ``purge_hour`` (in ``timezone``), every conversation whose newest
record in every store is older than N days (``PrivacyService.purge``); ``csbot privacy purge`` does the same by
hand. 0 (the default) keeps everything.

Once per tenant and day, however many archive processes run: each claims the (tenant, day) by inserting an
audit row whose id is derived from them; the primary key lets one insert win and the others skip that tenant.
A purge that fails half-way is not retried that day; the next day's purge covers what it left (older still).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError

from bot.errors import ConfigError
from bot.storage.db import Database
from bot.storage.models import AuditLog

log = logging.getLogger(__name__)
CLAIM = "privacy.purge.claim"


@dataclass(frozen=True)
class RetentionConfig:
    retention_days: int = 0  # 0: off
    purge_hour: int = 3  # the local hour after which the day's purge runs
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_settings(cls, settings: Any) -> RetentionConfig:
        raw = settings.raw.get("privacy") or {}
        days, hour, tz = raw.get("retention_days", 0), raw.get("purge_hour", 3), raw.get("timezone", "Asia/Shanghai")
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 36500:
            raise ConfigError("privacy.retention_days", "a whole number of days (0: keep everything)", days)
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
            raise ConfigError("privacy.purge_hour", "an hour from 0 to 23", hour)
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("privacy.timezone", "an IANA time zone such as Asia/Shanghai", tz) from None
        return cls(days, hour, str(tz))


def claim_id(tenant: str, day: str) -> int:
    digest = hashlib.blake2b(f"{CLAIM}|{tenant}|{day}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


def claim(db: Database, tenant: str, day: str, owner: str) -> bool:
    """True for the one process that gets to purge ``tenant`` on ``day`` (its own transaction)."""
    try:
        with db.session() as s:
            s.add(AuditLog(audit_id=claim_id(tenant, day), tenant_id=tenant, actor_role="system", action=CLAIM,
                           target_type="retention", target_id=day, detail={"by": owner[:64]}))  # fmt: skip
    except IntegrityError:
        return False
    return True


class RetentionJob:
    """What the archive process's loop calls: at most one purge per local day, each tenant claimed first."""

    def __init__(self, service: Any, db: Database, config: RetentionConfig, default_tenant: str,
                 known_tenants: tuple[str, ...] = (), owner: str = "archive",
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.service, self.db, self.config = service, db, config
        self.default_tenant, self.known, self.owner, self.clock = default_tenant, known_tenants, owner, clock
        self.done_day: str | None = None
        self.last: Any = None  # the last purge's report (for /health and tests)

    def due(self) -> str | None:
        """Today's date (local) when a purge should run now, else None."""
        if self.config.retention_days <= 0:
            return None
        local = dt.datetime.fromtimestamp(self.clock(), ZoneInfo(self.config.timezone))
        day = local.date().isoformat()
        return day if local.hour >= self.config.purge_hour and day != self.done_day else None

    def run_once(self) -> Any:
        from bot.privacy.service import Actor

        day = self.due()
        if day is None:
            return None
        tenants = self.service.tenants({self.default_tenant, *self.known})
        mine = {t for t in sorted(tenants) if claim(self.db, t, day, self.owner)}
        report = None
        if mine:
            report = self.service.purge(self.config.retention_days, Actor("system"), tenants=mine,
                                        default_tenant=self.default_tenant)  # fmt: skip
            log.info("retention purge %s: %d conversation(s) of %d tenant(s) older than %d days removed", day,
                     sum(report.conversations.values()), len(mine), self.config.retention_days)  # fmt: skip
        self.done_day, self.last = day, report
        return report
