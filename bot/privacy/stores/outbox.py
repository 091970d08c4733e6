"""The stream's outbox (``cs_outbox`` in the platform database, and in Rasa's tracker database when that is
another one): a conversation's events wait there until every reader passed them, then up to
``events.outbox_keep_seconds``.

Erasing blanks the rows instead of deleting them: a reader that meets a missing ``seq`` waits out the hole
(``bot.events.stream.sql``) and would stall the archive for seconds, while a row of an unknown kind is simply
passed over, by the outbox readers and the Kafka relay alike. This runs first, so the archiver and the search
indexer never write back what the erase removes. Lines already relayed to Kafka stay there until the topic's
retention; an erase run again after the archive caught up removes what they add.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.crypto import Cipher
from bot.events.table import outbox
from bot.privacy.base import Record, Store
from bot.privacy.sql import chunks
from bot.privacy.subject import Subject

ERASED = "erased"  # the kind of a blanked row: no reader asks for it


def body_of(cipher: Cipher | None, row: Any) -> Any:
    """An outbox row's event, opened if sealed (``bot.events.outbox``)."""
    import json

    body = row.body
    if body.startswith("enc:"):
        from bot.crypto import SealError
        from bot.storage.sealed import OUTBOX

        try:
            body = OUTBOX.open(cipher, body, {"tenant_id": row.tenant_id, "event_id": row.event_id})
        except SealError:
            return {"error": "sealed event does not open"}
    try:
        return json.loads(body)
    except ValueError:
        return {"error": "not JSON"}


class OutboxStore(Store):
    name = "outbox"

    def __init__(self, engines: Mapping[str, Engine], cipher: Cipher | None) -> None:
        self.engines, self.cipher = dict(engines), cipher

    def _where(self, subject: Subject, part: list[str]) -> Any:
        return sa.and_(outbox.c.tenant_id == subject.tenant, outbox.c.stream_key.in_(part), outbox.c.kind != ERASED)

    def _present(self, engine: Engine) -> bool:
        return sa.inspect(engine).has_table(outbox.name)

    def export(self, subject: Subject) -> list[Record]:
        out: list[Record] = []
        for source, engine in self.engines.items():
            if not self._present(engine):
                continue
            with engine.connect() as conn:
                for part in chunks(subject.conversations):
                    q = sa.select(outbox.c.seq, outbox.c.event_id, outbox.c.tenant_id, outbox.c.kind,
                                  outbox.c.body).where(self._where(subject, part)).order_by(outbox.c.seq)  # fmt: skip
                    out += [{"source": source, "seq": r.seq, "kind": r.kind, "event": body_of(self.cipher, r)}
                            for r in conn.execute(q)]  # fmt: skip
        return out

    def erase(self, subject: Subject) -> int:
        removed = 0
        for engine in self.engines.values():
            if not self._present(engine):
                continue
            with engine.begin() as conn:
                for part in chunks(subject.conversations):
                    removed += conn.execute(outbox.update().where(self._where(subject, part))
                                            .values(kind=ERASED, body="{}")).rowcount  # fmt: skip
        return removed

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()
