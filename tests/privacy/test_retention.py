"""The retention purge (privacy.retention_days): conversations quiet in every store for longer than the period go
from every store; a conversation still active anywhere stays; a dry run changes nothing; the archive process's
daily job purges each tenant once a day even when two of them run (a claim per tenant and day)."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select

from bot.privacy.retention import RetentionConfig, RetentionJob
from bot.privacy.service import Actor
from bot.storage.models import AuditLog
from handoff.privacy import build_service

from .world import World

NOW = time.time()


def test_quiet_conversations_go_from_every_store_and_active_ones_stay(world: World) -> None:
    old = world.customer("default", "u1001")
    recent = world.customer("default", "u2002")
    quiet_but_talking = world.customer("acme", "u3003")
    for x in (old, quiet_but_talking):
        world.age(x, 400)
    world.tracker(quiet_but_talking.conversation, NOW - 3600)  # the bot talked with them an hour ago
    before = {x.conversation: world.counts(x) for x in (old, recent, quiet_but_talking)}
    svc = build_service(world.settings, db=world.db, clock=lambda: NOW)
    try:
        dry = svc.purge(180, Actor("cli"), dry_run=True)
        assert dry.conversations == {"default": 1} and dry.kept_active >= 1
        assert dry.removed["default"]["archive"] == before[old.conversation]["archive"]
        assert {x.conversation: world.counts(x) for x in (old, recent, quiet_but_talking)} == before  # untouched

        done = svc.purge(180, Actor("cli"))
        assert done.conversations == {"default": 1} and not done.failures
    finally:
        svc.close()
    assert set(world.counts(old).values()) == {0}, world.counts(old)
    assert world.counts(recent) == before[recent.conversation]
    kept = world.counts(quiet_but_talking)
    assert kept["archive"] == before[quiet_but_talking.conversation]["archive"] and kept["sessions"] == 1
    with world.db.session() as s:
        audits = s.scalars(select(AuditLog).where(AuditLog.action == "privacy.purge")).all()
    real = [a for a in audits if not a.detail["dry_run"]]
    # acme kept its conversation; only inbox notices older than the period went (delivered long ago)
    assert sorted((a.tenant_id, a.detail["conversations"], sorted(a.detail["removed"])) for a in real) == [
        ("acme", 0, ["handoff"]), ("default", 1, sorted(done.removed["default"]))]  # fmt: skip
    mine = next(a for a in real if a.tenant_id == "default")
    assert mine.detail["removed"]["archive"] > 0 and "13812345678" not in str(mine.detail)


def test_the_daily_job_runs_once_per_tenant_and_day_across_two_processes(sqlite_world: World) -> None:
    w = sqlite_world
    old = w.customer("default", "u1001")
    w.age(old, 40)
    morning = dt.datetime.fromtimestamp(NOW).replace(tzinfo=None)
    clock = {"now": dt.datetime(morning.year, morning.month, morning.day, 2, 0).timestamp() - 8 * 3600}  # 02:00 +08
    cfg = RetentionConfig(retention_days=30, purge_hour=3, timezone="Asia/Shanghai")

    def job(owner: str) -> RetentionJob:
        svc = build_service(w.settings, db=w.db, clock=lambda: clock["now"])
        return RetentionJob(svc, w.db, cfg, "default", owner=owner, clock=lambda: clock["now"])

    first, second = job("archive-1"), job("archive-2")
    try:
        assert first.run_once() is None and second.run_once() is None  # before purge_hour: not yet
        assert w.counts(old)["archive"] > 0
        clock["now"] += 2 * 3600  # 04:00 in Shanghai
        report = first.run_once()
        assert report is not None and report.conversations == {"default": 1}
        day1 = first.done_day
        assert second.run_once() is None and second.done_day == day1  # claimed by the first
        assert first.run_once() is None  # once a day
        assert set(w.counts(old).values()) == {0}
        later = w.customer("default", "u2002")
        w.age(later, 40)
        clock["now"] += 86400  # the next day: the second process may win this time
        assert second.run_once().conversations == {"default": 1}  # type: ignore[union-attr]
        assert first.run_once() is None
        assert set(w.counts(later).values()) == {0}
    finally:
        first.service.close()
        second.service.close()
    with w.db.session() as s:
        claims = s.scalars(select(AuditLog).where(AuditLog.action == "privacy.purge.claim")).all()
    assert sorted((c.target_id, c.detail["by"]) for c in claims) == [(day1, "archive-1"), (second.done_day,
                                                                           "archive-2")]  # fmt: skip


def test_retention_settings_are_checked(sqlite_world: World) -> None:
    import pytest

    from bot.errors import ConfigError
    from bot.settings import load_settings

    env = {"CSBOT_HOME": str(sqlite_world.settings.home)}
    assert RetentionConfig.from_settings(load_settings(env)).retention_days == 0
    on = load_settings({**env, "CSBOT_PRIVACY__RETENTION_DAYS": "180"})
    assert RetentionConfig.from_settings(on).retention_days == 180
    for key, bad in (("RETENTION_DAYS", "-1"), ("RETENTION_DAYS", "soon"), ("PURGE_HOUR", "25"),
                     ("TIMEZONE", "Mars/Olympus")):  # fmt: skip
        with pytest.raises(ConfigError, match=f"privacy.{key.lower()}"):
            RetentionConfig.from_settings(load_settings({**env, f"CSBOT_PRIVACY__{key}": bad}))


def test_a_session_opened_during_the_purge_keeps_its_conversation(sqlite_world: World) -> None:
    from handoff.domain import CustomerRef

    w = sqlite_world
    quiet, opening = w.customer("default", "u1001"), w.customer("default", "u2002")
    for x in (quiet, opening):
        w.age(x, 400)
    w.svc.request(CustomerRef("default", opening.conversation, "web", "u2002", "李四"), "after_sales")
    svc = build_service(w.settings, db=w.db, clock=lambda: NOW)
    handoff = next(s for s in svc.stores if s.name == "handoff")
    handoff.active = lambda tenant, convs, cutoff: set()  # type: ignore[method-assign]  # it opened just after
    try:
        report = svc.purge(180, Actor("cli"))
    finally:
        svc.close()
    assert report.conversations == {"default": 1} and report.kept_open == 1
    assert set(w.counts(quiet).values()) == {0} and w.counts(opening)["archive"] > 0
