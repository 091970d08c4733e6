"""The message index at scale: one Elasticsearch index (``message_search.index``, default ``csbot_messages``)
for every tenant, each query filtered by tenant. Texts are pre-segmented (``handoff.search.text``), so the
mapping uses the whitespace analyzer and the cluster needs no Chinese plugin. Queries are built from term
clauses only (never ``query_string``), so a user's ``"``, ``*``, ``:`` or ``AND`` is text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.errors import ConfigError
from bot.tenants import check_tenant
from handoff.search import IndexedMessage, MessageHit, MessageQuery, SearchPage
from handoff.search.text import MAX_STORED_CHARS, Word, index_text, query_words, snippet

_NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,200}$")
_KEYWORD = {"type": "keyword"}
MAPPING = {
    "properties": {
        "tenant": _KEYWORD, "conversation": _KEYWORD, "role": _KEYWORD, "customer": _KEYWORD,
        "agent": _KEYWORD, "channel": _KEYWORD, "at": {"type": "double"},
        "words": {"type": "text", "analyzer": "whitespace"},
        "body": {"type": "text", "index": False},  # the masked text, for snippets; never searched
    }
}  # fmt: skip
BULK_ITEMS = 1000


class SearchUnavailable(RuntimeError):
    """The Elasticsearch cluster refused or did not answer (the API answers 503)."""


class ElasticsearchMessageIndex:
    def __init__(self, hosts: Sequence[str], index: str = "csbot_messages", timeout: float = 10.0,
                 refresh: str = "false", auth: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        if not _NAME_RE.match(index):
            raise ConfigError("message_search.index", "a lower-case Elasticsearch index name", index)
        self.hosts = list(hosts)
        self.index = index
        self.timeout = timeout
        # "false": new lines appear with the cluster's refresh (1 s by default); "wait_for" in tests
        self.refresh = refresh
        self._auth = dict(auth or {})
        self._client: Any = None
        self._ready = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any], settings: Any) -> ElasticsearchMessageIndex:
        hosts = options.get("hosts") or options.get("url")
        if not hosts:
            raise ConfigError("message_search.hosts", "an Elasticsearch URL or a list of them")
        auth: dict[str, Any] = {}
        if options.get("api_key"):
            auth["api_key"] = options["api_key"]
        if options.get("username"):
            auth["basic_auth"] = (str(options["username"]), str(options.get("password") or ""))
        return cls([hosts] if isinstance(hosts, str) else list(hosts), str(options.get("index", "csbot_messages")),
                   float(options.get("timeout", 10.0)), str(options.get("refresh", "false")), auth)  # fmt: skip

    @property
    def client(self) -> Any:
        if self._client is None:
            from elasticsearch import Elasticsearch

            self._client = Elasticsearch(self.hosts, request_timeout=self.timeout, max_retries=1, **self._auth)
        return self._client

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as exc:  # transport or API error: one domain error the API maps to 503
            raise SearchUnavailable(f"elasticsearch: {type(exc).__name__}: {str(exc)[:200]}") from exc

    def _ensure(self) -> None:
        if not self._ready:
            if not self._call(self.client.indices.exists, index=self.index):
                try:
                    self.client.indices.create(index=self.index, mappings=MAPPING)
                except Exception as exc:  # another process created it first
                    if "already_exists" not in str(exc) and "exists" not in str(exc).lower():
                        raise SearchUnavailable(f"elasticsearch: {exc}") from exc
            self._ready = True

    def add(self, docs: Sequence[IndexedMessage]) -> None:
        if not docs:
            return
        self._ensure()
        ops: list[dict[str, Any]] = []
        for d in docs:
            ops.append({"index": {"_index": self.index, "_id": str(d.msg_id)}})  # same id replaces: idempotent
            ops.append({"tenant": check_tenant(d.tenant), "conversation": d.conversation_id, "role": d.role,
                        "customer": d.customer, "agent": None if d.agent_id is None else str(d.agent_id),
                        "channel": d.channel, "at": float(d.at), "words": index_text(d.text),
                        "body": d.text[:MAX_STORED_CHARS]})  # fmt: skip
        for i in range(0, len(ops), 2 * BULK_ITEMS):
            res = self._call(self.client.bulk, operations=ops[i : i + 2 * BULK_ITEMS], refresh=self.refresh)
            failed = [x for x in res.get("items", []) if next(iter(x.values())).get("error")]
            if res.get("errors") and failed:
                raise SearchUnavailable(f"elasticsearch bulk: {len(failed)} line(s) refused: {failed[0]}")

    def _filters(self, tenant: str, q: MessageQuery) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = [{"term": {"tenant": check_tenant(tenant)}}]
        for field, value in (("customer", q.customer), ("role", q.role), ("conversation", q.conversation_id),
                             ("agent", None if q.agent_id is None else str(q.agent_id))):  # fmt: skip
            if value:
                filters.append({"term": {field: value}})
        if q.since is not None or q.until is not None:
            bounds: dict[str, float] = {}
            if q.since is not None:
                bounds["gte"] = q.since
            if q.until is not None:
                bounds["lt"] = q.until
            filters.append({"range": {"at": bounds}})
        if q.scope is not None:
            allowed: list[dict[str, Any]] = [{"term": {"agent": str(q.scope.agent_id)}}]
            if q.scope.conversation_ids:
                allowed.append({"terms": {"conversation": sorted(q.scope.conversation_ids)}})
            filters.append({"bool": {"should": allowed, "minimum_should_match": 1}})
        return filters

    @staticmethod
    def _word(w: Word) -> dict[str, Any]:
        if not w.parts:
            return {"term": {"words": w.token}}
        return {"bool": {"should": [{"term": {"words": w.token}},
                                    {"bool": {"must": [{"term": {"words": p}} for p in w.parts]}}],
                         "minimum_should_match": 1}}  # fmt: skip

    def search(self, tenant: str, query: MessageQuery) -> SearchPage:
        words = query_words(query.words)
        if query.words.strip() and not words:
            return SearchPage()  # only punctuation or syntax characters: nothing to look for
        self._ensure()
        body = {"bool": {"filter": self._filters(tenant, query), "must": [self._word(w) for w in words]}}
        sort = [{"at": "desc"}] if query.newest_first else ["_score", {"at": "desc"}]
        res = self._call(self.client.search, index=self.index, query=body, size=query.limit, from_=query.offset,
                         sort=sort, track_total_hits=True)  # fmt: skip
        hits = []
        for h in res["hits"]["hits"]:
            src = h["_source"]
            snip, marks = snippet(str(src.get("body") or ""), words)
            agent = src.get("agent")
            hits.append(MessageHit(msg_id=int(h["_id"]), conversation_id=src["conversation"], role=src["role"],
                                   snippet=snip, marks=marks, at=float(src["at"]), customer=src.get("customer"),
                                   agent_id=int(agent) if agent else None, channel=src.get("channel"),
                                   score=float(h.get("_score") or 0.0)))  # fmt: skip
        total = res["hits"]["total"]
        return SearchPage(tuple(hits), int(total["value"] if isinstance(total, dict) else total))

    def delete_conversation(self, tenant: str, conversation_id: str) -> int:
        self._ensure()
        query = {"bool": {"filter": [{"term": {"tenant": check_tenant(tenant)}},
                                     {"term": {"conversation": conversation_id}}]}}  # fmt: skip
        res = self._call(self.client.delete_by_query, index=self.index, query=query, refresh=True, conflicts="proceed")
        return int(res.get("deleted") or 0)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
