"""Privacy requests (《个人信息保护法》 access and deletion) and the retention purge, over every store that holds a
customer's data. The CLI (``csbot privacy``), the admin HTTP API and the archive process's daily job all call
this one service; the stores are handed in (``handoff.privacy.build_service`` lists them in erase order).

An erase walks the stores in order, each in its own transaction, and stops at the first that fails: the stores
before it are done, the rest untouched, and the same erase run again finishes the job (every store's erase is
idempotent). Files are found before anything is erased: their links live in the records that go. Every request
is audited (``bot.audit``) with counts per store, never content.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.audit import audit
from bot.errors import Conflict
from bot.privacy.base import PersonalData, Record
from bot.privacy.files import file_keys
from bot.privacy.subject import Subject, conversation_subject
from bot.storage.db import Database

log = logging.getLogger(__name__)
BATCH = 200  # idle conversations asked per store query
MAX_FAILURES = 20  # a purge that fails this often stops (a store is down); tomorrow's run goes on


@dataclass(frozen=True)
class Actor:
    """Who asked: a staff principal over HTTP, the operator at the CLI, or the retention job."""

    role: str  # "admin", "cli", "system"
    user_id: int | None = None


@dataclass
class EraseReport:
    tenant: str
    customer: str
    conversations: list[str]
    removed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # the store it stopped at, with the reason
    skipped: list[str] = field(default_factory=list)  # stores not reached after the failure

    @property
    def complete(self) -> bool:
        return not self.failed

    @property
    def found(self) -> bool:
        return bool(self.failed) or any(self.removed.values())

    def to_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "customer": self.customer, "conversations": sorted(self.conversations),
                "complete": self.complete, "found": self.found, "removed": self.removed, "failed": self.failed,
                "not_reached": self.skipped}  # fmt: skip


@dataclass
class PurgeReport:
    cutoff: float
    dry_run: bool
    conversations: dict[str, int] = field(default_factory=dict)  # per tenant
    removed: dict[str, dict[str, int]] = field(default_factory=dict)  # tenant → store → records
    kept_active: int = 0  # idle in one store, active in another
    kept_open: int = 0  # an open handoff session
    failures: int = 0

    def add(self, tenant: str, store: str, n: int) -> None:
        if n:
            per = self.removed.setdefault(tenant, {})
            per[store] = per.get(store, 0) + n

    def to_json(self) -> dict[str, Any]:
        return {"cutoff": dt.datetime.fromtimestamp(self.cutoff, dt.UTC).isoformat(timespec="seconds"),
                "dry_run": self.dry_run, "conversations": self.conversations, "removed": self.removed,
                "kept_active": self.kept_active, "kept_open": self.kept_open, "failures": self.failures}  # fmt: skip


class PrivacyService:
    def __init__(self, db: Database, stores: Sequence[PersonalData], clock: Callable[[], float] = time.time,
                 owns_db: bool = False) -> None:  # fmt: skip
        self.db = db
        self.stores = list(stores)
        self.clock = clock
        self.owns_db = owns_db

    def close(self) -> None:
        for store in self.stores:
            try:
                store.close()
            except Exception:  # closing one must not keep the others open
                log.exception("closing privacy store %s", store.name)
        if self.owns_db:
            self.db.dispose()

    # --- finding -------------------------------------------------------------------------------------
    def find(self, subject: Subject) -> Subject:
        """The subject with every conversation of theirs the stores know (for a customer ref)."""
        if not subject.by_ref or subject.customer is None:
            return subject
        found: set[str] = set()
        for store in self.stores:
            found |= store.conversations(subject.tenant, subject.customer)
        return subject.with_conversations(found)

    def _records(self, subject: Subject) -> tuple[Subject, dict[str, list[Record]]]:
        records = {s.name: s.export(subject) for s in self.stores}
        subject = replace(subject, files=frozenset(file_keys(records, subject.tenant)))
        for s in self.stores:
            if getattr(s, "uses_files", False):
                records[s.name] = s.export(subject)
        return subject, records

    # --- access ----------------------------------------------------------------------------------------
    def export(self, subject: Subject, actor: Actor) -> dict[str, Any] | None:
        """Every record of the subject, readable; None when no store holds anything (audited either way)."""
        subject = self.find(subject)
        subject, records = self._records(subject)
        counts = {name: len(rows) for name, rows in records.items() if rows}
        self._audit(subject, "privacy.export", actor, {"found": bool(counts), "records": counts})
        if not counts:
            return None
        return {"tenant": subject.tenant, "customer": subject.customer,
                "generated_at": dt.datetime.fromtimestamp(self.clock(), dt.UTC).isoformat(timespec="seconds"),
                "conversations": [{"id": c, "anonymous": subject.anonymous(c)} for c in sorted(subject.conversations)],
                "counts": counts, "stores": {k: v for k, v in records.items() if v}}  # fmt: skip

    def preview(self, subject: Subject) -> tuple[Subject, dict[str, int]]:
        """The subject as found, and how many records each store would erase (nothing is changed or audited)."""
        subject, _ = self._records(self.find(subject))
        return subject, {s.name: n for s in self.stores if (n := s.count(subject))}

    # --- deletion --------------------------------------------------------------------------------------
    def erase(self, subject: Subject, actor: Actor) -> EraseReport:
        """Remove everything of the subject, store by store (see the module's doc). ``Conflict`` while a
        handoff session of theirs is open; a report with ``found`` False when there was nothing."""
        subject = self.find(subject)
        try:
            for store in self.stores:
                store.check(subject)
        except Conflict as exc:
            self._audit(subject, "privacy.erase", actor, {"refused": str(exc)[:200]})
            raise
        report = self._erase(subject)
        self._audit(subject, "privacy.erase", actor, {"found": report.found, "complete": report.complete,
                                                       "removed": {k: v for k, v in report.removed.items() if v},
                                                       "failed": sorted(report.failed)})  # fmt: skip
        return report

    def _erase(self, subject: Subject) -> EraseReport:
        report = EraseReport(subject.tenant, subject.customer or "", sorted(subject.conversations))
        try:
            subject, _ = self._records(subject)
        except Exception as exc:  # a store that cannot even be read: nothing erased yet
            log.exception("privacy erase: reading the records failed")
            report.failed["read"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            report.skipped = [s.name for s in self.stores]
            return report
        for i, store in enumerate(self.stores):
            try:
                report.removed[store.name] = store.erase(subject)
            except Exception as exc:  # stop here: the stores after it still hold what a re-run needs
                log.exception("privacy erase stopped at store %s", store.name)
                report.failed[store.name] = f"{type(exc).__name__}: {str(exc)[:200]}"
                report.skipped = [s.name for s in self.stores[i + 1 :]]
                break
        return report

    # --- retention -------------------------------------------------------------------------------------
    def tenants(self, known: Collection[str] = ()) -> set[str]:
        out = set(known)
        for store in self.stores:
            out |= store.tenants()
        return out

    def purge(self, days: float, actor: Actor, dry_run: bool = False,
              tenants: Collection[str] | None = None, default_tenant: str = "default") -> PurgeReport:  # fmt: skip
        """Remove every conversation whose newest record in every store is older than ``days`` (and what belongs
        to no conversation past that age); only ``tenants`` when given (the daily job's claimed ones)."""
        if days <= 0:
            raise ValueError("retention days must be positive")
        cutoff = self.clock() - days * 86400
        report = PurgeReport(cutoff, dry_run)
        seen: set[tuple[str, str]] = set()
        for source in self.stores:
            after: Any = None
            while report.failures < MAX_FAILURES:
                batch, after = source.idle(cutoff, after, BATCH)
                fresh = [(t, c) for t, c in batch if (t, c) not in seen and (tenants is None or t in tenants)]
                seen.update(fresh)
                for tenant, convs in _by_tenant(fresh).items():
                    self._purge_batch(tenant, convs, cutoff, report, default_tenant)
                if after is None:
                    break
        scope = set(tenants) if tenants is not None else self.tenants({default_tenant})
        for store in self.stores:
            for tenant, n in store.sweep(cutoff, scope, dry_run).items():
                report.add(tenant, store.name, n)
        for tenant in sorted(scope & (set(report.removed) | set(report.conversations))):
            detail = {"retention_days": days, "dry_run": dry_run, "conversations": report.conversations.get(tenant, 0),
                      "removed": report.removed.get(tenant, {})}  # fmt: skip
            self._audit_row(tenant, "privacy.purge", "retention", None, actor, detail)
        return report

    def _purge_batch(self, tenant: str, convs: list[str], cutoff: float, report: PurgeReport,
                     default_tenant: str) -> None:  # fmt: skip
        """The quiet ones of ``convs`` go together: one transaction per store for the whole batch (one at a time
        only when a handoff session of one of them opened meanwhile)."""
        busy: set[str] = set()
        for store in self.stores:
            busy |= store.active(tenant, convs, cutoff)
        report.kept_active += len(busy)
        quiet = [c for c in convs if c not in busy]
        if not quiet:
            return
        together = Subject(tenant, default_tenant, None, frozenset(quiet))
        try:
            for store in self.stores:
                store.check(together)
        except Conflict:
            for conv in quiet:
                self._purge_one(conversation_subject(tenant, conv, default_tenant), report)
            return
        self._purge_one(together, report)

    def _purge_one(self, subject: Subject, report: PurgeReport) -> None:
        tenant = subject.tenant
        try:
            for store in self.stores:
                store.check(subject)
        except Conflict:
            report.kept_open += len(subject.conversations)
            return
        if report.dry_run:
            subject, _ = self._records(subject)
            for store in self.stores:
                report.add(tenant, store.name, store.count(subject))
        else:
            done = self._erase(subject)
            for name, n in done.removed.items():
                report.add(tenant, name, n)
            if not done.complete:
                report.failures += 1
                return
        report.conversations[tenant] = report.conversations.get(tenant, 0) + len(subject.conversations)

    # --- audit -----------------------------------------------------------------------------------------
    def _audit(self, subject: Subject, action: str, actor: Actor, detail: dict[str, Any]) -> None:
        detail = {"conversations": len(subject.conversations), **detail}
        self._audit_row(subject.tenant, action, "customer", subject.customer, actor, detail)

    def _audit_row(self, tenant: str, action: str, target_type: str, target_id: str | None, actor: Actor,
                   detail: dict[str, Any]) -> None:  # fmt: skip
        json.dumps(detail)  # counts and names only: fails loudly here rather than half-way in the driver
        with self.db.session() as s:
            audit(s, tenant, action, target_type, target_id, detail, actor.user_id, actor.role)


def _by_tenant(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tenant, conv in pairs:
        out.setdefault(tenant, []).append(conv)
    return out
