"""What every store of personal data offers a privacy request: find, export, erase, and the retention purge's
questions (which conversations went quiet, which are still active).

One small Protocol; ``Store`` gives the do-nothing defaults so a store implements only what it holds (the file
store has no conversations to discover; the search index has no dates to ask). A store never sees another
store's rows: the service passes plain values (``Subject``, cut-off epoch seconds) and each store opens its own
transaction, so an erase that stops half-way leaves whole stores done or untouched.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol, runtime_checkable

from bot.privacy.subject import Subject

Record = dict[str, Any]
Cursor = Any  # a store's own keyset position in its idle listing (opaque to the service)


@runtime_checkable
class PersonalData(Protocol):
    name: str

    def conversations(self, tenant: str, customer: str) -> set[str]:
        """Conversation ids of ``tenant`` whose records here carry the customer ref ``customer``."""
        ...

    def check(self, subject: Subject) -> None:
        """Raise ``Conflict`` when the subject's data cannot be erased now (an open handoff session)."""
        ...

    def export(self, subject: Subject) -> list[Record]:
        """Every record of the subject, decrypted and readable (JSON-serialisable values only)."""
        ...

    def count(self, subject: Subject) -> int:
        """How many records ``erase`` would remove (a dry run)."""
        ...

    def erase(self, subject: Subject) -> int:
        """Remove the subject's records in one transaction; returns how many. Erasing nothing is not an error."""
        ...

    def tenants(self) -> set[str]:
        """Tenants with data here (the daily purge claims each)."""
        ...

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        """Up to ``limit`` (tenant, conversation) whose newest record here is older than ``cutoff`` (epoch s),
        after the position ``after`` (None: from the start); and the position to continue from (None: done)."""
        ...

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        """Those of ``conversations`` with a record here at or after ``cutoff`` (or open: never purged)."""
        ...

    def sweep(self, cutoff: float, tenants: Collection[str], dry_run: bool) -> dict[str, int]:
        """Records older than ``cutoff`` that belong to no conversation (parked stream records, delivered
        inbox notices), removed (or counted) per tenant."""
        ...

    def close(self) -> None: ...


class Store:
    """Defaults for what a store does not hold."""

    name = "store"

    def conversations(self, tenant: str, customer: str) -> set[str]:
        return set()

    def check(self, subject: Subject) -> None:
        return None

    def export(self, subject: Subject) -> list[Record]:
        return []

    def count(self, subject: Subject) -> int:
        return len(self.export(subject))

    def erase(self, subject: Subject) -> int:
        return 0

    def tenants(self) -> set[str]:
        return set()

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        return [], None

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        return set()

    def sweep(self, cutoff: float, tenants: Collection[str], dry_run: bool) -> dict[str, int]:
        return {}

    def close(self) -> None:
        return None
