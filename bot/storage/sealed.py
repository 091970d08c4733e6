"""Which columns hold text sealed at rest (AES-256-GCM, ``bot.crypto``), and sealing them through the ORM.

A model passed to :func:`seal_model` has its column sealed on INSERT/UPDATE with the cipher of the session's
``Database`` (``Database.from_settings``) and opened when a row is loaded, so services, APIs and the privacy
export read plaintext while the database holds ``enc:v1:<key id>:<base64>``. The associated data binds a
sealed value to its row (table, tenant, id): copied into another row or tenant it does not open. Rows written
before sealing read as they are. A value that does not open (its key was removed) reads as the column's
``unreadable`` value and is logged, never raised into a request.

``STORES`` lists every sealed column, including those sealed outside the ORM (the outbox, Rasa's ``events``):
the re-seal job and ``csbot keys status`` walk it (``bot.storage.reseal``). ``cs_message`` has its own
``key_id`` column and binary body (``handoff.archive``). Imported by the Rasa server too (SQLAlchemy 1.4):
nothing here may import the models.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import object_session
from sqlalchemy.orm.attributes import get_history, set_committed_value

from bot.crypto import Cipher, SealError, is_sealed, open_text, seal_text, session_cipher

log = logging.getLogger(__name__)
SEALED = "sealed"  # a sealed JSON column holds {"sealed": "enc:v1:..."}


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    keys: tuple[str, ...]  # the primary key: the order the re-seal job walks the table in
    bind: tuple[str, ...]  # the row's values the associated data is made of
    json: bool = False  # a JSON column: any JSON value, sealed as {"sealed": "enc:v1:..."}
    unreadable: Any = ""  # what a reader gets for a value that does not open
    database: str = "platform"  # "trackers": Rasa's tracker database (may be the platform's own)

    def aad(self, row: Mapping[str, Any]) -> bytes:
        return ":".join([self.table, *(str(row[c]) for c in self.bind)]).encode()

    def seal(self, cipher: Cipher, value: Any, row: Mapping[str, Any]) -> Any:
        if self.json:
            return {SEALED: seal_text(cipher, json.dumps(value, ensure_ascii=False), self.aad(row))}
        return seal_text(cipher, str(value), self.aad(row))

    def open(self, cipher: Cipher | None, stored: Any, row: Mapping[str, Any]) -> Any:
        """The plain value of ``stored``; :class:`SealError` when it is sealed and does not open."""
        sealed = self.sealed_text(stored)
        if sealed is None:
            return stored
        if cipher is None:
            raise SealError("no encryption key in this process (Database built without settings)")
        text = open_text(cipher, sealed, self.aad(row))
        return json.loads(text) if self.json else text

    def sealed_text(self, stored: Any) -> str | None:
        """The ``enc:v1:`` text inside a stored value; None for a plain one."""
        if self.json:
            inner = stored.get(SEALED) if isinstance(stored, dict) and len(stored) == 1 else None
            return inner if is_sealed(inner) else None
        return stored if is_sealed(stored) else None


HANDOFF_LINE = SealedColumn("cs_handoff_line", "content", ("session_id", "msg_id"), ("tenant_id", "msg_id"),
                            unreadable=json.dumps({"text": "", "error": "sealed body does not open"}))  # fmt: skip
LEFT_MESSAGE = SealedColumn("cs_left_message", "text", ("left_id",), ("tenant_id", "left_id"),
                            unreadable="(内容无法解密)")  # fmt: skip
# the feed's seq is given by the database on insert, after sealing: bind what the row is about instead
AGENT_FEED = SealedColumn("cs_agent_feed", "payload", ("seq",), ("tenant_id", "agent_id", "session_id", "kind"),
                          json=True, unreadable={"error": "sealed payload does not open"})  # fmt: skip
TICKET = SealedColumn("cs_ticket", "description", ("ticket_id",), ("tenant_id", "ticket_id"), unreadable="")
TICKET_COMMENT = SealedColumn("cs_ticket_comment", "content", ("comment_id",), ("tenant_id", "comment_id"),
                              unreadable="(内容无法解密)")  # fmt: skip
# sealed outside the ORM: bot.events.outbox (Core inserts) and channels.tracker_store (Rasa's own model)
OUTBOX = SealedColumn("cs_outbox", "body", ("seq",), ("tenant_id", "event_id"))
TRACKER_EVENTS = SealedColumn("events", "data", ("id",), ("sender_id",), database="trackers")

STORES = (HANDOFF_LINE, LEFT_MESSAGE, AGENT_FEED, TICKET, TICKET_COMMENT, OUTBOX, TRACKER_EVENTS)
_BY_TABLE = {s.table: s for s in STORES}


class _Row(Mapping[str, Any]):
    """A mapped object's attributes as the row the associated data is made of."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __getitem__(self, key: str) -> Any:
        return getattr(self.obj, key)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def _opened(spec: SealedColumn, cipher: Cipher | None, target: Any) -> None:
    stored = target.__dict__.get(spec.column)
    if spec.sealed_text(stored) is None:
        return
    try:
        value = spec.open(cipher, stored, _Row(target))
    except SealError as exc:
        log.warning("%s.%s of a row does not open: %s", spec.table, spec.column, exc)
        value = spec.unreadable
    set_committed_value(target, spec.column, value)


def seal_model(cls: Any) -> None:
    """Seal ``cls``'s column listed in ``STORES`` (by its table) on write and open it on load."""
    spec = _BY_TABLE[cls.__tablename__]
    plain_attr = f"_sealed_plain_{spec.column}"

    def before_write(mapper: Any, _conn: Any, target: Any, inserting: bool) -> None:
        cipher = session_cipher(object_session(target))
        value = getattr(target, spec.column)
        if cipher is None or value is None:
            return  # a Database built without settings (some tests, tools) writes plain, as before sealing
        if not inserting and not get_history(target, spec.column).added:
            return  # unchanged: keep the stored value (a new nonce would rewrite the row for nothing)
        for name in spec.bind:  # a Python-side column default (tenant_id) is applied after this event
            default = mapper.columns[name].default if name in mapper.columns else None
            if getattr(target, name) is None and default is not None and default.is_scalar:
                setattr(target, name, default.arg)
        target.__dict__[plain_attr] = value
        setattr(target, spec.column, spec.seal(cipher, value, _Row(target)))

    def after_write(_mapper: Any, _conn: Any, target: Any) -> None:
        if plain_attr in target.__dict__:  # the object goes on holding the plaintext, as loaded ones do
            set_committed_value(target, spec.column, target.__dict__.pop(plain_attr))

    def on_load(target: Any, context: Any) -> None:
        _opened(spec, session_cipher(context.session), target)

    def on_refresh(target: Any, context: Any, attrs: Any) -> None:
        if attrs is None or spec.column in attrs:
            _opened(spec, session_cipher(context.session), target)

    event.listen(cls, "before_insert", lambda m, c, t: before_write(m, c, t, True))
    event.listen(cls, "before_update", lambda m, c, t: before_write(m, c, t, False))
    event.listen(cls, "after_insert", after_write)
    event.listen(cls, "after_update", after_write)
    event.listen(cls, "load", on_load)
    event.listen(cls, "refresh", on_refresh)
