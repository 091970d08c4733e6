"""The embedded message index: one tantivy directory (``$CSBOT_HOME/search/messages``) for every tenant, the
tenant a filter term on each query.

One writer: tantivy allows one per directory across processes. The archiver (the only writer) opens it on
its first ``add`` and keeps it, so a batch costs one commit, not a 50 MB heap allocation; every other
process (the handoff service, the CLI) only reads and reloads its searcher at most every ``reload_seconds``,
so a line committed by the archiver is found within about a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.errors import CsbotError
from bot.tenants import check_tenant
from handoff.search import IndexedMessage, MessageHit, MessageQuery, SearchPage
from handoff.search.text import MAX_STORED_CHARS, Word, index_text, query_words, snippet

SEP = "\x1f"  # tenant and conversation in one delete term: conversation ids are only unique per tenant


class IndexBusy(CsbotError):
    """Another process holds the index's writer lock (only the archiver writes)."""


def _schema() -> Any:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("tenant", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("tconv", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("conversation", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("role", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("customer", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("agent", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("channel", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_float_field("at", stored=True, indexed=True, fast=True)
    sb.add_text_field("words", tokenizer_name="whitespace", index_option="freq")
    sb.add_bytes_field("body", stored=True)  # the masked text, for snippets; never searched
    return sb.build()


class TantivyMessageIndex:
    def __init__(self, path: Path, reload_seconds: float = 0.5, writer_heap: int = 64_000_000) -> None:
        self.path = Path(path)
        self.reload_seconds = reload_seconds
        self.writer_heap = writer_heap
        self._schema = _schema()
        self._index: Any = None
        self._writer: Any = None
        self._reloaded = 0.0
        self._lock = threading.RLock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], settings: Any) -> TantivyMessageIndex:
        path = Path(options["path"]) if options.get("path") else settings.path("search", "messages")
        return cls(path, float(options.get("reload_seconds", 0.5)), int(options.get("writer_heap", 64_000_000)))

    def _open(self, create: bool) -> Any:
        import tantivy

        with self._lock:
            if self._index is None:
                if not create and not (self.path / "meta.json").exists():
                    return None  # nothing archived yet: a reader must not create the index under the writer
                self.path.mkdir(parents=True, exist_ok=True)
                self._index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
                self._reloaded = time.monotonic()
            return self._index

    def _writer_of(self, index: Any) -> Any:
        if self._writer is None:
            try:
                self._writer = index.writer(heap_size=self.writer_heap, num_threads=1)
            except Exception as exc:  # LockBusy
                raise IndexBusy(f"message index {self.path} is being written by another process: {exc}") from exc
        return self._writer

    def add(self, docs: Sequence[IndexedMessage]) -> None:
        import tantivy
        from tantivy import Query

        latest = {d.msg_id: d for d in docs}  # a batch naming a line twice keeps the last
        if not latest:
            return
        for d in latest.values():
            check_tenant(d.tenant)
        with self._lock:
            index = self._open(create=True)
            writer = self._writer_of(index)
            try:
                # re-adding replaces (idempotent): one delete for the batch, applied before its own adds; a
                # delete per line halved the indexing rate (measured: 21k vs 31k lines/s)
                writer.delete_documents_by_query(Query.term_set_query(self._schema, "id", [str(i) for i in latest]))
                for d in latest.values():
                    writer.add_document(tantivy.Document(
                        id=str(d.msg_id), tenant=d.tenant, tconv=f"{d.tenant}{SEP}{d.conversation_id}",
                        conversation=d.conversation_id, role=d.role, customer=d.customer or "",
                        agent="" if d.agent_id is None else str(d.agent_id), channel=d.channel or "",
                        at=float(d.at), words=index_text(d.text),
                        body=d.text[:MAX_STORED_CHARS].encode()))  # fmt: skip
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            index.reload()
            self._reloaded = time.monotonic()

    def delete_conversation(self, tenant: str, conversation_id: str) -> int:
        from tantivy import Query

        with self._lock:
            index = self._open(create=True)
            term = f"{check_tenant(tenant)}{SEP}{conversation_id}"
            index.reload()
            found = int(index.searcher().search(Query.term_query(self._schema, "tconv", term), 1, count=True).count)
            if found:
                writer = self._writer_of(index)
                writer.delete_documents_by_term("tconv", term)
                writer.commit()
                index.reload()
                self._reloaded = time.monotonic()
            return found

    def _searcher(self) -> Any:
        index = self._open(create=False)
        if index is None:
            return None
        now = time.monotonic()
        if now - self._reloaded > self.reload_seconds:  # see the archiver's commits, at most this stale
            index.reload()
            self._reloaded = now
        return index.searcher()

    def _query(self, tenant: str, q: MessageQuery, words: list[Word]) -> Any:
        from tantivy import FieldType, Occur, Query

        s = self._schema

        def term(field: str, value: str) -> Any:
            return Query.term_query(s, field, value)

        filters = [term("tenant", check_tenant(tenant))]
        if q.customer:
            filters.append(term("customer", q.customer))
        if q.agent_id is not None:
            filters.append(term("agent", str(q.agent_id)))
        if q.role:
            filters.append(term("role", q.role))
        if q.conversation_id:
            filters.append(term("conversation", q.conversation_id))
        if q.since is not None or q.until is not None:
            filters.append(Query.range_query(s, "at", FieldType.Float, -1e18 if q.since is None else q.since,
                                             1e18 if q.until is None else q.until,
                                             include_upper=q.until is None))  # fmt: skip
        if q.scope is not None:
            allowed = [(Occur.Should, term("agent", str(q.scope.agent_id)))]
            if q.scope.conversation_ids:
                mine = Query.term_set_query(s, "conversation", sorted(q.scope.conversation_ids))
                allowed.append((Occur.Should, mine))
            filters.append(Query.boolean_query(allowed))
        clauses = [(Occur.Must, Query.const_score_query(f, 0.0)) for f in filters]
        for w in words:
            if w.parts:  # the word itself, or all its pieces where the line was segmented differently
                pieces = Query.boolean_query([(Occur.Must, term("words", p)) for p in w.parts])
                clauses.append((Occur.Must, Query.boolean_query([(Occur.Should, term("words", w.token)),
                                                                 (Occur.Should, pieces)])))  # fmt: skip
            else:
                clauses.append((Occur.Must, term("words", w.token)))
        return Query.boolean_query(clauses)

    def search(self, tenant: str, query: MessageQuery) -> SearchPage:
        from tantivy import Order

        words = query_words(query.words)
        if query.words.strip() and not words:
            return SearchPage()  # only punctuation or syntax characters: nothing to look for
        with self._lock:
            searcher = self._searcher()
        if searcher is None:
            return SearchPage()
        tq = self._query(tenant, query, words)
        if query.newest_first:
            result = searcher.search(tq, query.limit, count=True, order_by_field="at", offset=query.offset,
                                     order=Order.Desc)  # fmt: skip
        else:
            result = searcher.search(tq, query.limit, count=True, offset=query.offset)
        hits = []
        for score, addr in result.hits:
            doc = searcher.doc(addr)
            text = bytes(doc["body"][0]).decode()
            snip, marks = snippet(text, words)
            agent = doc["agent"][0] if doc["agent"] else ""
            hits.append(MessageHit(msg_id=int(doc["id"][0]), conversation_id=doc["conversation"][0],
                                   role=doc["role"][0], snippet=snip, marks=marks, at=float(doc["at"][0]),
                                   customer=(doc["customer"] or [""])[0] or None,
                                   agent_id=int(agent) if agent else None,
                                   channel=(doc["channel"] or [""])[0] or None,
                                   score=0.0 if query.newest_first else float(score)))  # fmt: skip
        return SearchPage(tuple(hits), int(result.count or 0))

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()  # consumes the writer and releases the lock
                self._writer = None
            self._index = None
