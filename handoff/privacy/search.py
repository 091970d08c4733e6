"""The message search index (``handoff.search``): a PII-masked copy of every archived line, by conversation.

Tantivy allows one writer per index across processes, and the archive process keeps it. So a process that is
not the archive (the CLI, the handoff service) opens its own handle, deletes and closes it at once (the lock is
never kept from the archiver), and when the archive process holds the lock asks it to delete instead
(``POST /internal/search/forget`` on the archive port, a service token of the tenant). Elasticsearch takes
deletes from anyone. Inside the archive process the retention job uses the indexer's own handle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from bot.errors import CsbotError
from bot.privacy.base import Record, Store
from bot.privacy.subject import Subject
from bot.security import service_token
from handoff.search import MessageIndex, MessageQuery, create_message_index
from handoff.search.tantivy_backend import IndexBusy

log = logging.getLogger(__name__)
PAGE = 100
MAX_OFFSET = 10_000  # MessageQuery's own bound: a longer conversation's export stops there (the archive has all)


class SearchStore(Store):
    name = "search_index"

    def __init__(self, settings: Any, index: MessageIndex | None = None,
                 remote: Callable[[str, list[str]], int] | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.shared = index  # the archive process's own handle: never closed here
        self.remote = remote or self._ask_archive

    def _with_index(self, fn: Callable[[MessageIndex], Any]) -> Any:
        if self.shared is not None:
            return fn(self.shared)
        index = create_message_index(self.settings)
        try:
            return fn(index)
        finally:
            index.close()  # releases tantivy's writer lock at once

    def export(self, subject: Subject) -> list[Record]:
        def read(index: MessageIndex) -> list[Record]:
            out: list[Record] = []
            for conv in sorted(subject.conversations):
                offset = 0
                while offset <= MAX_OFFSET:
                    page = index.search(subject.tenant, MessageQuery(conversation_id=conv, limit=PAGE, offset=offset))
                    out += [{k: v for k, v in h.to_json().items() if k not in ("highlights", "score")}
                            for h in page.hits]  # fmt: skip
                    offset += PAGE
                    if len(page.hits) < PAGE:
                        break
            return out

        return self._with_index(read)  # type: ignore[no-any-return]

    def erase(self, subject: Subject) -> int:
        convs = sorted(subject.conversations)
        if not convs:
            return 0
        try:
            return self._with_index(lambda index: sum(index.delete_conversation(subject.tenant, c) for c in convs))  # type: ignore[no-any-return]
        except IndexBusy:  # the archive process writes the index: it deletes
            return self.remote(subject.tenant, convs)

    def _ask_archive(self, tenant: str, conversations: list[str]) -> int:
        s = self.settings
        token = service_token(s.keyring, tenant, "privacy", 120)
        try:
            r = httpx.post(f"{s.services.url('archive')}/internal/search/forget", json={"conversations": conversations},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30.0)  # fmt: skip
            r.raise_for_status()
            return int(r.json()["removed"])
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise CsbotError(f"the archive process holds the message index and did not delete: {exc}") from exc
