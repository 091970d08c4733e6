"""Writing to the stream: rows appended to ``cs_outbox`` inside the caller's own transaction.

The change and its event commit together or not at all (seed §6's local transaction table), so a reader never
sees an event for a change that rolled back and never misses one for a change that committed. Works with an
ORM session or a Core connection, on SQLAlchemy 1.4 (the Rasa server) and 2.x.

Bodies are sealed at rest (``enc:v1:...`` bound to the row's tenant and event id, ``bot.storage.sealed.OUTBOX``)
with the cipher the session was opened with; the stream's readers open them (``bot.events.stream.sql``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from bot.crypto import Cipher, session_cipher
from bot.events.envelope import StreamEvent
from bot.events.table import outbox
from bot.storage.sealed import OUTBOX


def rows(events: Iterable[StreamEvent], cipher: Cipher | None = None) -> list[dict[str, Any]]:
    now = time.time()
    out = [{"event_id": e.id, "tenant_id": e.tenant, "stream_key": e.key, "kind": e.kind, "body": e.to_json(),
            "created_at": now} for e in events]  # fmt: skip
    if cipher is not None:
        for r in out:
            r["body"] = OUTBOX.seal(cipher, r["body"], r)
    return out


def publish(conn: Any, events: Iterable[StreamEvent]) -> int:
    """Append ``events`` in the transaction ``conn`` (a Session or Connection) has open; returns how many.
    Sealed with the session's cipher (``Database.from_settings``); a bare connection writes them plain."""
    batch = rows(events, session_cipher(conn))
    if batch:
        conn.execute(outbox.insert(), batch)
    return len(batch)


def event(kind: str, tenant: str, key: str, data: dict[str, Any], at: float | None = None) -> StreamEvent:
    """A new event with a fresh Snowflake id from this process's generator."""
    from bot.ids import new_id

    return StreamEvent(new_id(), kind, tenant, key, time.time() if at is None else at, data)
