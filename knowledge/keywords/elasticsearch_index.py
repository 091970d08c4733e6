"""Elasticsearch through elasticsearch-py: one index per KB version, ``<prefix>_live`` alias switched with one
``update_aliases`` call (atomic). Texts are pre-tokenised, so the mapping uses the whitespace analyzer and
needs no Chinese plugin (IK/smartcn) on the cluster."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from knowledge.keywords.base import KeywordDoc
from knowledge.types import Hit, check_tenant
from knowledge.vectors.base import BackendUnavailable

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,200}$")
_MAPPING = {
    "properties": {
        "pk": {"type": "keyword"},
        "tenant_id": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "item_id": {"type": "long"},
        "text": {"type": "text", "analyzer": "whitespace"},
    }
}


class ElasticsearchKeywordIndex:
    def __init__(self, hosts: Sequence[str], prefix: str = "csbot", timeout: float = 10.0,
                 api_key: str | None = None, basic_auth: tuple[str, str] | None = None) -> None:  # fmt: skip
        self.hosts = list(hosts)
        self.prefix = prefix
        self.timeout = timeout
        self._auth: dict[str, Any] = {}
        if api_key:
            self._auth["api_key"] = api_key
        if basic_auth:
            self._auth["basic_auth"] = basic_auth
        self._client: Any = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], home: Path) -> ElasticsearchKeywordIndex:
        hosts = options.get("hosts") or options.get("url")
        if not hosts:
            raise ConfigError("keywords.hosts", "an Elasticsearch URL or a list of them")
        if isinstance(hosts, str):
            hosts = [hosts]
        user, password = options.get("username"), options.get("password")
        return cls(hosts, str(options.get("prefix", "csbot")).lower(), float(options.get("timeout", 10.0)),
                   options.get("api_key"), (str(user), str(password)) if user else None)  # fmt: skip

    @property
    def client(self) -> Any:
        if self._client is None:
            from elasticsearch import Elasticsearch

            self._client = Elasticsearch(self.hosts, request_timeout=self.timeout, retry_on_timeout=False,
                                         max_retries=0, **self._auth)  # fmt: skip
        return self._client

    def _name(self, name: str) -> str:
        full = f"{self.prefix}_{name}".lower()
        if not _NAME_RE.match(full):
            raise ValueError(f"invalid index name {name!r}")
        return full

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as exc:  # connection / transport / API errors → degrade
            raise BackendUnavailable(f"elasticsearch: {type(exc).__name__}: {exc}") from exc

    def create_index(self, name: str) -> None:
        if not self.has_index(name):
            self._call(self.client.indices.create, index=self._name(name), mappings=_MAPPING,
                       settings={"number_of_shards": 1, "number_of_replicas": 0})  # fmt: skip

    def drop_index(self, name: str) -> None:
        if self.has_index(name):
            self._call(self.client.indices.delete, index=self._name(name))

    def has_index(self, name: str) -> bool:
        return bool(self._call(self.client.indices.exists, index=self._name(name)))

    def _bulk(self, operations: list[dict[str, Any]]) -> None:
        if not operations:
            return
        res = self._call(self.client.bulk, operations=operations, refresh=True)
        if res.get("errors"):
            bad = [i for i in res["items"] if next(iter(i.values())).get("error")]
            real = [i for i in bad if next(iter(i.values())).get("status") != 404]  # deleting a missing doc is fine
            if real:
                raise BackendUnavailable(f"elasticsearch bulk: {len(real)} item(s) failed: {real[0]}")

    def add(self, name: str, docs: Sequence[KeywordDoc]) -> None:
        index = self._name(name)
        ops: list[dict[str, Any]] = []
        for d in docs:
            ops.append({"index": {"_index": index, "_id": d.pk}})
            ops.append({"pk": d.pk, "tenant_id": check_tenant(d.tenant_id), "kind": d.kind,
                        "item_id": d.item_id, "text": " ".join(d.tokens)})  # fmt: skip
        for i in range(0, len(ops), 2000):
            self._bulk(ops[i : i + 2000])

    def delete(self, name: str, pks: Sequence[str]) -> None:
        index = self._name(name)
        ops = [{"delete": {"_index": index, "_id": pk}} for pk in pks]
        for i in range(0, len(ops), 1000):
            self._bulk(ops[i : i + 1000])

    def search(self, name: str, tokens: Sequence[str], tenant_id: str, top_k: int) -> list[Hit]:
        toks = list(dict.fromkeys(t for t in tokens if t))
        if not toks:
            return []
        query = {"bool": {"filter": [{"term": {"tenant_id": check_tenant(tenant_id)}}],
                          "must": [{"match": {"text": {"query": " ".join(toks), "operator": "or"}}}]}}  # fmt: skip
        res = self._call(self.client.search, index=self._name(name), query=query, size=top_k,
                         source=["kind", "item_id"])  # fmt: skip
        return [Hit(pk=h["_id"], kind=h["_source"]["kind"], item_id=int(h["_source"]["item_id"]),
                    score=float(h["_score"] or 0.0)) for h in res["hits"]["hits"]]  # fmt: skip

    def count(self, name: str, tenant_id: str | None = None) -> int:
        query = {"term": {"tenant_id": check_tenant(tenant_id)}} if tenant_id else {"match_all": {}}
        self._call(self.client.indices.refresh, index=self._name(name))
        return int(self._call(self.client.count, index=self._name(name), query=query)["count"])

    def set_alias(self, alias: str, name: str) -> None:
        target, alias_name = self._name(name), self._name(alias)
        actions: list[dict[str, Any]] = [{"add": {"index": target, "alias": alias_name}}]
        try:
            current = self.client.indices.get_alias(name=alias_name)
            actions = [{"remove": {"index": i, "alias": alias_name}} for i in current if i != target] + actions
        except Exception:  # alias does not exist yet (NotFoundError)
            pass
        self._call(self.client.indices.update_aliases, actions=actions)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
