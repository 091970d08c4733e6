"""The keyword index interface. Texts arrive pre-tokenised (``knowledge.text.tokenize``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from knowledge.types import Hit, Kind


@dataclass(frozen=True)
class KeywordDoc:
    pk: str
    tenant_id: str
    kind: Kind
    item_id: int
    tokens: tuple[str, ...]


@runtime_checkable
class KeywordIndex(Protocol):
    def create_index(self, name: str) -> None: ...

    def drop_index(self, name: str) -> None: ...

    def has_index(self, name: str) -> bool: ...

    def add(self, name: str, docs: Sequence[KeywordDoc]) -> None: ...

    def delete(self, name: str, pks: Sequence[str]) -> None: ...

    def search(self, name: str, tokens: Sequence[str], tenant_id: str, top_k: int) -> list[Hit]: ...

    def count(self, name: str, tenant_id: str | None = None) -> int: ...

    def set_alias(self, alias: str, name: str) -> None: ...

    def close(self) -> None: ...
