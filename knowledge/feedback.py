"""What answering leaves behind: FAQ hit counts (batched) and low-confidence questions for review.

Seed §2.5.9 active learning: ``csbot kb lowconf`` exports what the bot could not answer; hit counts order the
back office's hot questions (``GET /api/kb/faqs?sort=hits``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from bot.storage.db import Database
from knowledge import repository as repo

log = logging.getLogger(__name__)


class Feedback:
    def __init__(self, db: Database, flush_seconds: float = 30.0, flush_count: int = 100) -> None:
        self.db = db
        self.flush_seconds, self.flush_count = flush_seconds, flush_count
        self._hits: Counter[tuple[str, str]] = Counter()
        self._flushed = time.monotonic()
        self._lock = threading.Lock()

    def count_hit(self, tenant_id: str, faq_ext_id: str) -> None:
        with self._lock:
            self._hits[(tenant_id, faq_ext_id)] += 1
            due = time.monotonic() - self._flushed > self.flush_seconds or sum(self._hits.values()) >= self.flush_count
        if due:
            self.flush_hits()

    def flush_hits(self) -> None:
        """Write batched FAQ hit counts (one UPDATE per FAQ instead of one per answer)."""
        with self._lock:
            hits, self._hits = self._hits, Counter()
            self._flushed = time.monotonic()
        if not hits:
            return
        try:
            with self.db.session() as s:
                by_tenant: dict[str, dict[str, int]] = {}
                for (tenant, ext_id), n in hits.items():
                    by_tenant.setdefault(tenant, {})[ext_id] = n
                for tenant, counts in by_tenant.items():
                    rows = repo.faqs_by_ext(s, tenant, counts)
                    repo.add_hits(s, tenant, {rows[e].faq_id: n for e, n in counts.items() if e in rows})
        except Exception:
            log.warning("could not flush FAQ hit counts", exc_info=True)

    def record_low_confidence(self, masked_query: str, tenant_id: str, confidence: float, top_ref: str | None,
                              conversation_id: str | None, reason: str) -> bool:  # fmt: skip
        try:
            with self.db.session() as s:
                repo.record_low_confidence(s, tenant_id, masked_query, confidence, top_ref, conversation_id, reason)
            return True
        except Exception:
            log.warning("could not record a low-confidence question", exc_info=True)
            return False

    def low_confidence(self, tenant_id: str, since: Any = None, mark_reviewed: bool = False) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = repo.low_confidence(s, tenant_id, since)
            out = [{"id": str(r.lowconf_id), "tenant_id": r.tenant_id, "query": r.query,
                    "confidence": round(r.confidence, 4), "top_ref": r.top_ref, "reason": r.reason,
                    "conversation_id": r.conversation_id, "created_at": r.created_at.isoformat(timespec="seconds")}
                   for r in rows]  # fmt: skip
            if mark_reviewed:
                for r in rows:
                    r.reviewed = 1
        return out

    def faq_draft(self, tenant_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Low-confidence questions proposed as similar questions of the FAQ the bot found nearest.

        One FAQ file line per FAQ, with today's fields plus ``review_added`` (ignored on import): a reviewer
        deletes the wrong proposals (many were rightly declined: out of scope) and imports the file back with
        ``csbot kb import``, which re-embeds only what changed. Seed §2.5.9: 人工标注后回流知识库.
        """
        proposals: dict[str, list[str]] = {}
        for r in rows:
            ref = r.get("top_ref") or ""
            if ref and "#" not in ref and not ref.startswith("doc:"):
                proposals.setdefault(ref, [])
                if r["query"] not in proposals[ref]:
                    proposals[ref].append(r["query"])
        if not proposals:
            return []
        with self.db.session() as s:
            faqs = repo.faqs_by_ext(s, tenant_id, proposals)
            out = []
            for ext_id in sorted(proposals):
                f = faqs.get(ext_id)
                if f is None:
                    continue  # deleted since
                known = list(f.similar_questions or [])
                added = [q for q in proposals[ext_id] if q not in known and q != f.question]
                if added:
                    out.append({"id": f.ext_id, "question": f.question, "similar_questions": known + added,
                                "answer": f.answer_text, "category": f.category, "enabled": bool(f.enabled),
                                "review_added": added})  # fmt: skip
        return out
