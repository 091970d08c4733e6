"""Writing to the stream: rows appended to ``cs_outbox`` inside the caller's own transaction.

The change and its event commit together or not at all (seed §6's local transaction table), so a reader never
sees an event for a change that rolled back and never misses one for a change that committed. Works with an
ORM session or a Core connection, on SQLAlchemy 1.4 (the Rasa server) and 2.x.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from bot.events.envelope import StreamEvent
from bot.events.table import outbox


def rows(events: Iterable[StreamEvent]) -> list[dict[str, Any]]:
    now = time.time()
    return [{"event_id": e.id, "tenant_id": e.tenant, "stream_key": e.key, "kind": e.kind, "body": e.to_json(),
             "created_at": now} for e in events]  # fmt: skip


def publish(conn: Any, events: Iterable[StreamEvent]) -> int:
    """Append ``events`` in the transaction ``conn`` (a Session or Connection) has open; returns how many."""
    batch = rows(events)
    if batch:
        conn.execute(outbox.insert(), batch)
    return len(batch)


def event(kind: str, tenant: str, key: str, data: dict[str, Any], at: float | None = None) -> StreamEvent:
    """A new event with a fresh Snowflake id from this process's generator."""
    from bot.ids import new_id

    return StreamEvent(new_id(), kind, tenant, key, time.time() if at is None else at, data)
