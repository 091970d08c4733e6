"""Export and erase across every store, on SQLite and MariaDB: everything of the customer is found and goes;
another customer, and the same customer id in another tenant, keep everything; a second erase is a no-op; an
unknown customer is "nothing found"; every request is audited with counts, never content."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.errors import Conflict
from bot.privacy.service import Actor
from bot.privacy.subject import subject_of
from bot.storage.models import AuditLog
from handoff.domain import CustomerRef
from handoff.privacy import build_service

from .world import PHONE, REDACTED, World

ADMIN = Actor("admin", 1)


def test_export_shows_everything_and_erase_removes_it_and_nothing_else(world: World) -> None:
    me = world.customer("default", "u1001")
    other = world.customer("default", "u2002")
    elsewhere = world.customer("acme", "u1001")  # the same shop id in another tenant: another person
    visitor = world.customer("default", "u1001", conv="u1001")  # an anonymous visitor who chose that id
    before = {x.conversation: world.counts(x) for x in (me, other, elsewhere, visitor)}
    assert all(v > 0 for k, v in before[me.conversation].items()), before[me.conversation]
    svc = build_service(world.settings, db=world.db)
    try:
        data = svc.export(subject_of("u1001", None, "default"), ADMIN)
        assert data is not None
        assert {c["id"]: c["anonymous"] for c in data["conversations"]} == {"default:u1001": False, "u1001": True}
        stores = data["stores"]
        assert set(stores) >= {"outbox", "files", "search_index", "archive", "trackers", "tickets", "handoff",
                               "left_messages", "kb_low_confidence", "accounts", "parked_records",
                               "safety_incidents"}  # fmt: skip
        text = json.dumps(stores, ensure_ascii=False)
        assert PHONE in text and "请看退货地址" in text and "已联系快递" in text and "晚上再打给我" in text  # decrypted
        assert "enc:v1:" not in text  # nothing still sealed
        assert {f["key"] for f in stores["files"]} == {me.file_key, visitor.file_key}
        assert "acme" not in {r.get("conversation_id", "").split(":")[0] for r in stores["archive"]}

        report = svc.erase(subject_of("u1001", None, "default"), ADMIN)
        assert report.complete and report.found, report.to_json()
        assert all(report.removed[k] > 0 for k in ("archive", "trackers", "handoff", "tickets", "files")), report
        for gone in (me, visitor):
            assert set(world.counts(gone).values()) == {0}, world.counts(gone)
        for kept in (other, elsewhere):
            assert world.counts(kept) == before[kept.conversation]

        world.read_stream()  # the archive process's readers run on: nothing of the erased customer comes back
        assert world.counts(me)["archive"] == 0 and world.counts(me)["indexed"] == 0

        again = svc.erase(subject_of("u1001", None, "default"), ADMIN)
        assert not again.found and not any(again.removed.values())
        left = svc.export(subject_of("u1001", None, "default"), ADMIN)  # what the platform must keep, redacted
        assert left is not None and list(left["stores"]) == ["safety_incidents"]
        assert {r["text"] for r in left["stores"]["safety_incidents"]} == {REDACTED}
        assert world.counts(other) == before[other.conversation]
    finally:
        svc.close()
    with world.db.session() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action.like("privacy.%")).order_by(AuditLog.created_at,
                                                                                            AuditLog.audit_id)).all()
    actions = [r.action for r in rows]
    assert actions.count("privacy.erase") == 2 and actions.count("privacy.export") == 2
    trail = json.dumps([r.detail for r in rows], ensure_ascii=False)
    assert PHONE not in trail and "退货" not in trail  # counts, never content
    with world.db.session() as s:  # the incident stays on record (category, rule, when), its words do not
        kept = s.scalars(select(AuditLog.detail).where(AuditLog.action == "safety.block",
                                                       AuditLog.target_id == me.conversation)).one()  # fmt: skip
    assert kept["rule"] == "zh:120" and kept["text"] == REDACTED
    erased = [r for r in rows if r.action == "privacy.erase"]
    assert erased[0].detail["found"] and erased[0].detail["removed"]["archive"] > 0 and not erased[1].detail["found"]
    assert erased[0].actor_role == "admin" and erased[0].target_id == "u1001" and erased[0].tenant_id == "default"


def test_a_conversation_id_names_that_conversation_only(world: World) -> None:
    me = world.customer("default", "u1001")
    visitor = world.customer("default", "u1001", conv="u1001")
    svc = build_service(world.settings, db=world.db)
    try:
        report = svc.erase(subject_of("default:u1001", None, "default"), ADMIN)
        assert report.complete and report.conversations == ["default:u1001"]
    finally:
        svc.close()
    after = world.counts(me)
    assert {k: v for k, v in after.items() if v} == {"account": 1}  # the visitor's session still points at it
    assert world.counts(visitor)["archive"] > 0 and world.counts(visitor)["sessions"] == 1


def test_unknown_customer_is_nothing_found_and_audited(sqlite_world: World) -> None:
    svc = build_service(sqlite_world.settings, db=sqlite_world.db)
    try:
        assert svc.export(subject_of("nobody", "default", "default"), ADMIN) is None
        report = svc.erase(subject_of("nobody", "default", "default"), ADMIN)
    finally:
        svc.close()
    assert not report.found and report.complete
    with sqlite_world.db.session() as s:
        details = {r.action: r.detail for r in s.scalars(select(AuditLog).where(AuditLog.target_id == "nobody"))}
    assert details["privacy.erase"]["found"] is False and details["privacy.export"]["found"] is False


def test_an_open_handoff_session_is_not_erased(sqlite_world: World) -> None:
    w = sqlite_world
    me = w.customer("default", "u1001")
    w.svc.request(CustomerRef("default", me.conversation, "web", "u1001", "张三"), "after_sales")  # waiting again
    svc = build_service(w.settings, db=w.db)
    try:
        with pytest.raises(Conflict, match="open"):
            svc.erase(subject_of("u1001", None, "default"), ADMIN)
    finally:
        svc.close()
    assert w.counts(me)["archive"] > 0 and w.counts(me)["trackers"] > 0  # nothing touched
    with w.db.session() as s:
        refused = s.scalars(select(AuditLog.detail).where(AuditLog.action == "privacy.erase")).one()
    assert "open" in refused["refused"]


def test_an_erase_that_stops_half_way_finishes_when_run_again(sqlite_world: World) -> None:
    w = sqlite_world
    me = w.customer("default", "u1001")
    svc = build_service(w.settings, db=w.db)
    broken = next(s for s in svc.stores if s.name == "tickets")
    real = broken.erase

    def fail(subject: object) -> int:
        raise ConnectionError("database went away")

    broken.erase = fail  # type: ignore[method-assign]
    try:
        first = svc.erase(subject_of("u1001", None, "default"), ADMIN)
        assert not first.complete and "tickets" in first.failed and "handoff" in first.skipped
        half = w.counts(me)
        assert half["archive"] == 0 and half["file"] == 0 and half["tickets"] == 1 and half["sessions"] == 1
        broken.erase = real  # type: ignore[method-assign]
        second = svc.erase(subject_of("u1001", None, "default"), ADMIN)
    finally:
        svc.close()
    assert second.complete and second.removed["tickets"] > 0 and second.removed["handoff"] > 0
    assert set(w.counts(me).values()) == {0}
