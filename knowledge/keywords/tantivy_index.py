"""Embedded BM25 keyword index on tantivy: one directory per index version under ``$CSBOT_HOME/tantivy``.

tantivy has no Chinese analyzer; texts are pre-segmented by rjieba and indexed with the whitespace
tokenizer (measured best ranking and p50 0.2 ms on 50k Chinese FAQ strings, platform-facts). The writer
lock is taken per write batch and released, so the CLI can import while a service process searches;
searchers reload at most every ``reload_seconds`` to see other processes' commits.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from knowledge.keywords.base import KeywordDoc
from knowledge.types import Hit, check_tenant
from knowledge.vectors.base import BackendUnavailable

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _schema() -> Any:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("pk", stored=True, tokenizer_name="raw")
    sb.add_text_field("tenant_id", stored=False, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("kind", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("item_id", stored=True, indexed=False)
    sb.add_text_field("text", stored=False, tokenizer_name="whitespace", index_option="freq")
    return sb.build()


class TantivyKeywordIndex:
    def __init__(self, root: Path, reload_seconds: float = 1.0, writer_heap: int = 50_000_000) -> None:
        self.root = Path(root)
        self.reload_seconds = reload_seconds
        self.writer_heap = writer_heap
        self._indexes: dict[str, Any] = {}
        self._reloaded: dict[str, float] = {}
        self._lock = threading.RLock()
        self._schema: Any = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], home: Path) -> TantivyKeywordIndex:
        root = Path(options.get("path") or home / "tantivy")
        return cls(root, float(options.get("reload_seconds", 1.0)), int(options.get("writer_heap", 50_000_000)))

    def _dir(self, name: str) -> Path:
        if not _NAME_RE.match(name):
            raise ValueError(f"invalid index name {name!r}")
        return self.root / name

    def _index(self, name: str) -> Any:
        import tantivy

        with self._lock:
            idx = self._indexes.get(name)
            if idx is None:
                path = self._dir(name)
                if not (path / "meta.json").exists():
                    raise BackendUnavailable(f"tantivy index {name} does not exist")
                if self._schema is None:
                    self._schema = _schema()
                try:
                    idx = tantivy.Index(self._schema, path=str(path), reuse=True)
                except Exception as exc:
                    raise BackendUnavailable(f"tantivy index {name}: {exc}") from exc
                self._indexes[name] = idx
                self._reloaded[name] = time.monotonic()
            return idx

    def create_index(self, name: str) -> None:
        import tantivy

        path = self._dir(name)
        path.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self._schema is None:
                self._schema = _schema()
            self._indexes[name] = tantivy.Index(self._schema, path=str(path), reuse=True)

    def drop_index(self, name: str) -> None:
        with self._lock:
            self._indexes.pop(name, None)
            shutil.rmtree(self._dir(name), ignore_errors=True)

    def has_index(self, name: str) -> bool:
        return (self._dir(name) / "meta.json").exists()

    def _write(self, name: str, fn: Any) -> None:
        idx = self._index(name)
        with self._lock:
            try:
                writer = idx.writer(heap_size=self.writer_heap, num_threads=1)
            except Exception as exc:  # LockBusy: another process is writing
                raise BackendUnavailable(f"tantivy writer for {name}: {exc}") from exc
            try:
                fn(writer)
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
            idx.reload()
            self._reloaded[name] = time.monotonic()

    def add(self, name: str, docs: Sequence[KeywordDoc]) -> None:
        import tantivy

        def write(writer: Any) -> None:
            for d in docs:
                # re-adding a pk replaces it: delete first so a retried import never duplicates
                writer.delete_documents_by_term("pk", d.pk)
                writer.add_document(tantivy.Document(pk=d.pk, tenant_id=check_tenant(d.tenant_id), kind=d.kind,
                                                     item_id=d.item_id, text=" ".join(d.tokens)))  # fmt: skip

        if docs:
            self._write(name, write)

    def delete(self, name: str, pks: Sequence[str]) -> None:
        if pks:
            self._write(name, lambda w: [w.delete_documents_by_term("pk", pk) for pk in pks])

    def _searcher(self, name: str) -> Any:
        idx = self._index(name)
        now = time.monotonic()
        if now - self._reloaded.get(name, 0.0) > self.reload_seconds:
            idx.reload()
            self._reloaded[name] = now
        return idx.searcher()

    def search(self, name: str, tokens: Sequence[str], tenant_id: str, top_k: int) -> list[Hit]:
        from tantivy import Occur, Query

        toks = list(dict.fromkeys(t for t in tokens if t))
        if not toks:
            return []
        try:
            schema = self._index(name).schema
            text_q = Query.boolean_query([(Occur.Should, Query.term_query(schema, "text", t)) for t in toks])
            tenant_q = Query.const_score_query(Query.term_query(schema, "tenant_id", check_tenant(tenant_id)), 0.0)
            query = Query.boolean_query([(Occur.Must, text_q), (Occur.Must, tenant_q)])
            searcher = self._searcher(name)
            result = searcher.search(query, limit=top_k, count=False)
            hits = []
            for score, addr in result.hits:
                doc = searcher.doc(addr)
                hits.append(Hit(pk=doc["pk"][0], kind=doc["kind"][0], item_id=int(doc["item_id"][0]),
                                score=float(score)))  # fmt: skip
            return hits
        except BackendUnavailable:
            raise
        except Exception as exc:
            raise BackendUnavailable(f"tantivy search on {name}: {exc}") from exc

    def count(self, name: str, tenant_id: str | None = None) -> int:
        from tantivy import Query

        schema = self._index(name).schema
        query = (Query.term_query(schema, "tenant_id", check_tenant(tenant_id)) if tenant_id
                 else Query.all_query())  # fmt: skip
        self._index(name).reload()
        return int(self._index(name).searcher().search(query, limit=1, count=True).count)

    def set_alias(self, alias: str, name: str) -> None:
        # an alias is a one-line file replaced atomically (rename)
        self._dir(name)
        path = self._dir(alias).with_suffix(".alias")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(name)
        os.replace(tmp, path)

    def resolve_alias(self, alias: str) -> str | None:
        path = self._dir(alias).with_suffix(".alias")
        return path.read_text().strip() if path.is_file() else None

    def close(self) -> None:
        with self._lock:
            self._indexes.clear()
