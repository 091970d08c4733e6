"""Import FAQ files and documents: parse, mask, chunk, diff against what is stored, embed only what changed.

Every file is its own unit of work: a bad file gets a one-line error in its report and the batch goes on;
a file is either fully applied (SQL rows and every index version) or not at all.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import CsbotError, NotFound
from bot.ids import new_id
from bot.storage.db import Database
from bot.storage.models import Doc, DocEmbedding, Faq
from knowledge import repository as repo
from knowledge.config import KnowledgeConfig
from knowledge.indexing import IndexWriter, Units, VersionInfo, faq_units, section_units
from knowledge.text.chunking import chunk_text
from knowledge.text.faq_files import FaqRecord, parse_faq_file, with_similar
from knowledge.text.loaders import DOC_TYPES, FAQ_TYPES, LoadedText, LoadError, load_document
from knowledge.types import check_tenant
from knowledge.versions import VersionManager

log = logging.getLogger(__name__)


@dataclass
class FileReport:
    path: str
    kind: str = ""
    status: str = "ok"  # ok | unchanged | error
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    embedded: int = 0
    error: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], "")}


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        else:
            out.append(p)
    return out


@dataclass
class _Plan:
    add: Units = field(default_factory=Units)
    old: Units = field(default_factory=Units)

    def pks(self) -> tuple[list[Any], list[Any], list[str], list[str]]:
        """(vectors to embed, keyword docs to add, vector pks to drop, keyword pks to drop)."""
        old_v, new_v = self.old.vector_pks, self.add.vector_pks
        old_k, new_k = self.old.keyword_pks, self.add.keyword_pks
        vectors = list({e.pk: e for e in self.add.vectors if e.pk not in old_v}.values())
        keywords = list({d.pk: d for d in self.add.keywords if d.pk not in old_k}.values())
        return vectors, keywords, sorted(old_v - new_v), sorted(old_k - new_k)


class Ingestor:
    def __init__(self, db: Database, versions: VersionManager, writer: IndexWriter, cfg: KnowledgeConfig) -> None:
        self.db = db
        self.versions = versions
        self.writer = writer
        self.cfg = cfg

    # --- batch --------------------------------------------------------------------------------
    def import_paths(self, paths: Sequence[Path], tenant_id: str, prune: bool = False,
                     on_file: Callable[[FileReport], None] | None = None) -> list[FileReport]:  # fmt: skip
        check_tenant(tenant_id)
        self.versions.ensure_live()
        reports = []
        files = expand_paths(paths)
        faq_ids: set[str] = set()
        faq_ok = True
        for path in files:
            started = time.perf_counter()
            report = FileReport(str(path))
            try:
                ext = path.suffix.lower()
                if ext in FAQ_TYPES:
                    report.kind = "faq"
                    records = parse_faq_file(path, self.cfg.max_bytes)
                    faq_ids.update(r.ext_id for r in records)
                    self.apply_faqs(tenant_id, records, report)
                elif ext in DOC_TYPES:
                    report.kind = "doc"
                    self.apply_document(tenant_id, path.name, load_document(path, self.cfg.max_bytes), report)
                else:
                    raise LoadError(f"{path.name}: unsupported file type {ext or '(none)'}")
            except CsbotError as exc:
                report.status, report.error = "error", str(exc)
                faq_ok = faq_ok and report.kind != "faq"
            except Exception as exc:  # a backend failure: this file is rolled back, the batch goes on
                log.exception("import of %s failed", path)
                report.status, report.error = "error", f"{path.name}: {type(exc).__name__}: {exc}"
                faq_ok = faq_ok and report.kind != "faq"
            report.seconds = round(time.perf_counter() - started, 3)
            reports.append(report)
            if on_file:
                on_file(report)
        if prune and faq_ok and faq_ids:
            report = FileReport("(prune)", kind="faq")
            self.prune_faqs(tenant_id, faq_ids, report)
            reports.append(report)
        if any(r.added or r.updated or r.removed for r in reports):
            self.writer.seal(self.versions.write_targets())
        return reports

    # --- FAQ ----------------------------------------------------------------------------------
    def apply_faqs(self, tenant_id: str, records: Sequence[FaqRecord], report: FileReport) -> None:
        targets = self.versions.write_targets()
        kw_answer = self.cfg.index_faq_answers
        with self.db.session() as s:
            existing = repo.faqs_by_ext(s, tenant_id, [r.ext_id for r in records])
            reviewed = repo.accepted_similar(s, tenant_id, [r.ext_id for r in records])
        # similar questions a person accepted from the LLM's proposals are not in the merchant's file
        records = [with_similar(r, reviewed[r.ext_id]) if r.ext_id in reviewed else r for r in records]
        plan = _Plan()
        changed: list[tuple[FaqRecord, int, Faq | None]] = []
        for rec in records:
            row = existing.get(rec.ext_id)
            if row is not None and row.content_hash == rec.content_hash:
                report.unchanged += 1
                continue
            faq_id = row.faq_id if row is not None else new_id()
            if row is not None:
                old = repo.faq_item(row)
                plan.old.extend(faq_units(tenant_id, old.faq_id, old.question, old.similar_questions, old.answer,
                                          old.enabled, kw_answer))  # fmt: skip
            plan.add.extend(faq_units(tenant_id, faq_id, rec.question, rec.similar_questions, rec.answer,
                                      rec.enabled, kw_answer))  # fmt: skip
            changed.append((rec, faq_id, row))

        def mutate(s: Any) -> None:
            for rec, faq_id, row in changed:
                values = {"question": rec.question, "similar_questions": list(rec.similar_questions),
                          "answer_text": rec.answer, "category": rec.category, "enabled": int(rec.enabled),
                          "content_hash": rec.content_hash}  # fmt: skip
                if row is None:
                    s.add(Faq(faq_id=faq_id, tenant_id=tenant_id, ext_id=rec.ext_id, **values))
                    report.added += 1
                else:
                    live = s.get(Faq, row.faq_id)
                    for k, v in values.items():
                        setattr(live, k, v)
                    report.updated += 1

        if changed:
            self._commit(tenant_id, targets, plan, mutate, report)
        else:
            report.status = "unchanged"

    def prune_faqs(self, tenant_id: str, keep: set[str], report: FileReport) -> None:
        with self.db.session() as s:
            gone = [r for ext, r in repo.faqs_by_ext(s, tenant_id).items() if ext not in keep]
        self.delete_faqs(tenant_id, [r.ext_id for r in gone], report)

    def delete_faqs(self, tenant_id: str, ext_ids: Sequence[str], report: FileReport | None = None) -> int:
        report = report or FileReport("(delete)", kind="faq")
        with self.db.session() as s:
            rows = list(repo.faqs_by_ext(s, tenant_id, ext_ids).values())
        if not rows:
            return 0
        plan = _Plan()
        for r in rows:
            it = repo.faq_item(r)
            plan.old.extend(faq_units(tenant_id, it.faq_id, it.question, it.similar_questions, it.answer,
                                      it.enabled, self.cfg.index_faq_answers))  # fmt: skip

        def mutate(s: Any) -> None:
            for r in rows:
                s.delete(s.get(Faq, r.faq_id))
                report.removed += 1

        self._commit(tenant_id, self.versions.write_targets(), plan, mutate, report)
        return len(rows)

    # --- documents ----------------------------------------------------------------------------
    def apply_document(self, tenant_id: str, source: str, loaded: LoadedText, report: FileReport) -> None:
        if len(source) > 512:
            raise LoadError(f"{source[:40]}…: source name too long")
        sections = chunk_text(loaded.text, self.cfg.chunk_size, self.cfg.chunk_overlap)
        if not sections:
            raise LoadError(f"{source}: no text sections after chunking")
        if loaded.encoding not in ("utf-8", "binary"):
            report.notes.append(f"decoded as {loaded.encoding}")
        snippets = [f"{sec.heading}\n{sec.content}" if sec.heading else sec.content for sec in sections]
        title = loaded.title[:255]
        doc_hash = hashlib.sha256("\x1f".join([title, loaded.file_type, *snippets]).encode()).hexdigest()
        with self.db.session() as s:
            doc = repo.doc_by_source(s, tenant_id, source)
            old_rows = repo.sections_of(s, tenant_id, doc.doc_id) if doc is not None else []
        if doc is not None and doc.content_hash == doc_hash and doc.is_active:
            report.status, report.unchanged = "unchanged", len(old_rows)
            return
        doc_id = doc.doc_id if doc is not None else new_id()
        pool: dict[str, list[DocEmbedding]] = {}
        for row in old_rows:
            pool.setdefault(row.content_hash or "", []).append(row)
        plan = _Plan()
        keep: list[tuple[int, int]] = []  # (emb_id, new section_idx)
        new_rows: list[DocEmbedding] = []
        for idx, snippet in enumerate(snippets):
            h = hashlib.sha256(f"{title}\n{snippet}".encode()).hexdigest()
            if pool.get(h):
                row = pool[h].pop()
                keep.append((row.emb_id, idx))
                report.unchanged += 1
                # still part of the document: keep its keys out of the stale set
                plan.add.extend(section_units(tenant_id, row.emb_id, title, snippet))
                plan.old.extend(section_units(tenant_id, row.emb_id, title, snippet))
                continue
            emb_id = new_id()
            new_rows.append(DocEmbedding(emb_id=emb_id, tenant_id=tenant_id, doc_id=doc_id, section_idx=idx,
                                         content_snippet=snippet, content_hash=h))  # fmt: skip
            plan.add.extend(section_units(tenant_id, emb_id, title, snippet))
            report.added += 1
        removed = [r for rows in pool.values() for r in rows]
        for r in removed:
            plan.old.extend(section_units(tenant_id, r.emb_id, title, r.content_snippet or ""))
        report.removed = len(removed)

        def mutate(s: Any) -> None:
            live = s.get(Doc, doc_id)
            if live is None:
                s.add(Doc(doc_id=doc_id, tenant_id=tenant_id, title=title, oss_url=source,
                          file_type=loaded.file_type, version_no=1, is_active=1, content_hash=doc_hash))  # fmt: skip
            else:
                live.title, live.file_type, live.content_hash = title, loaded.file_type, doc_hash
                live.version_no = (live.version_no or 0) + 1
                live.is_active = 1
            for emb_id, idx in keep:
                s.get(DocEmbedding, emb_id).section_idx = idx
            repo.delete_sections(s, tenant_id, [r.emb_id for r in removed])
            s.add_all(new_rows)

        self._commit(tenant_id, self.versions.write_targets(), plan, mutate, report)

    def delete_document(self, tenant_id: str, source: str) -> int:
        with self.db.session() as s:
            doc = repo.doc_by_source(s, tenant_id, source)
            if doc is None:
                raise NotFound(f"no document {source!r}")
            rows = repo.sections_of(s, tenant_id, doc.doc_id)
        plan = _Plan()
        for r in rows:
            plan.old.extend(section_units(tenant_id, r.emb_id, doc.title or "", r.content_snippet or ""))

        def mutate(s: Any) -> None:
            repo.delete_sections(s, tenant_id, [r.emb_id for r in rows])
            s.delete(s.get(Doc, doc.doc_id))

        self._commit(tenant_id, self.versions.write_targets(), plan, mutate, FileReport(source))
        return len(rows)

    # --- the one place that writes indexes + SQL ----------------------------------------------
    def _commit(self, tenant_id: str, targets: Sequence[VersionInfo], plan: _Plan, mutate: Callable[[Any], None],
                report: FileReport) -> None:  # fmt: skip
        vectors, keywords, stale_v, stale_k = plan.pks()
        # embed before taking any SQL write lock: this is the slow part
        records = self.writer.embed(targets, vectors)
        report.embedded = len(vectors)
        written = False
        try:
            with self.db.session() as s:
                mutate(s)
                s.flush()  # constraint errors surface before the indexes are touched
                self.writer.add(targets, records, keywords)
                written = True
                repo.bump_generation(s, tenant_id)
        except BaseException:
            if written:  # the SQL commit failed after the indexes were written: take them back out
                self.writer.remove(targets, [e.pk for e in vectors], [d.pk for d in keywords])
            raise
        self.writer.remove(targets, stale_v, stale_k)
