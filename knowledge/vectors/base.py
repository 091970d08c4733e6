"""The vector store interface. Collections are versioned; ``live`` is an alias switched atomically."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from knowledge.types import Hit, VectorRecord


class BackendUnavailable(RuntimeError):
    """The store cannot be reached or failed; callers degrade to the other retriever."""


@runtime_checkable
class VectorStore(Protocol):
    def create_collection(self, name: str, dim: int) -> None: ...

    def drop_collection(self, name: str) -> None: ...

    def has_collection(self, name: str) -> bool: ...

    def upsert(self, name: str, records: Sequence[VectorRecord]) -> None: ...

    def delete(self, name: str, pks: Sequence[str]) -> None: ...

    def search(self, name: str, vector: Sequence[float], tenant_id: str, top_k: int) -> list[Hit]: ...

    def count(self, name: str, tenant_id: str | None = None) -> int: ...

    def set_alias(self, alias: str, name: str) -> None: ...

    def flush(self, name: str) -> None:
        """Seal what was written so searches use the index (called after an import batch)."""
        ...

    def close(self) -> None: ...
