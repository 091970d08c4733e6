"""A SQL tracker store that loads a bounded window of a long conversation.

Rasa 3.6 loads, deserialises and replays *every* event of the current session on each message (and copies
the tracker by replaying it again for each action): a 200-turn chat went from ~42 ms to ~228 ms a turn here.
This store loads only the last ``window_turns`` user turns, preceded by a snapshot of the dialogue state at
the window's start (slot values and the active form, rebuilt from the small slot/loop events before it), so
policies, forms and slots behave as with the full history while the work per message stays constant.

The full history stays in the database (``retrieve_full_tracker`` and the archive read all of it); only new
events are ever written: the tracker remembers how many loaded events are synthetic or already stored.

Configure in endpoints.yml (``csbot run`` does it for the default SQL store)::

    tracker_store:
      type: channels.tracker_store.WindowedSQLTrackerStore
      dialect: sqlite
      db: rasa_trackers.db
      window_turns: 20
      outbox: true

With ``outbox: true`` every customer, bot and agent line it stores is appended to ``cs_outbox`` in the same
transaction (``channels.archive_feed``): the archive's source, as durable as the tracker itself.

Each event's ``data`` is sealed at rest (AES-256-GCM, ``enc:v1:<key id>:<base64>``, bound to the sender id:
``bot.storage.sealed.TRACKER_EVENTS``) with the key from the home's settings; ``type_name``, ``timestamp``,
``intent_name`` and ``action_name`` stay plain because Rasa queries them. Rows written before read as they are.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.crypto import INFO_KEY, SealError, cipher_from_settings
from bot.storage.sealed import TRACKER_EVENTS

log = logging.getLogger(__name__)

# Events before the window that change state a policy or form can see.
STATE_EVENTS = ("slot", "active_loop", "reset_slots", "restart")
WINDOW_ATTR = "_csbot_window"  # (synthetic prefix length, real events loaded or saved since)


class WindowedSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, window_turns: int = 20, outbox: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_turns = max(2, int(window_turns))
        self.default_tenant = "default"
        self.outbox = bool(outbox)
        from bot.settings import load_settings

        settings = load_settings()
        self.cipher = cipher_from_settings(settings)
        if self.outbox:
            from bot.events.table import metadata
            from bot.ids import ensure_worker

            self.default_tenant = settings.default_tenant
            ensure_worker(settings)  # this process's own Snowflake worker id, leased now, not mid-transaction
            metadata.create_all(self.engine, checkfirst=True)
        import sqlalchemy as sa

        if self.engine.dialect.name == "sqlite":
            # Rasa opens a new SQLite connection per query (NullPool); each close checkpoints the WAL. Keep a
            # small pool instead: the event loop is one thread, so one connection is enough.
            from sqlalchemy.pool import QueuePool

            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, poolclass=QueuePool, pool_size=2, max_overflow=4,
                                           connect_args={"check_same_thread": False})  # fmt: skip
        # the sessions carry the cipher: the outbox rows they write are sealed with it (bot.events.outbox)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine, info={INFO_KEY: self.cipher})

    def _sealed(self, sender_id: str, data: dict[str, Any]) -> str:
        return str(TRACKER_EVENTS.seal(self.cipher, json.dumps(data, ensure_ascii=False), {"sender_id": sender_id}))

    def _events(self, sender_id: str, rows: list[Any]) -> list[dict[str, Any]]:
        """The stored events' data, opened. One that does not open (its key was removed before the re-seal job
        moved it) is left out and logged: the conversation goes on without it rather than failing every turn."""
        out = []
        for r in rows:
            try:
                out.append(json.loads(TRACKER_EVENTS.open(self.cipher, r.data, {"sender_id": sender_id})))
            except SealError as exc:
                log.error("a stored event of a conversation does not open (%s); left out", exc)
        return out

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            user_ids = (
                query.filter(self.SQLEvent.type_name == "user")
                .with_entities(self.SQLEvent.id)
                .order_by(None)
                .order_by(self.SQLEvent.id.desc())
                .limit(self.window_turns)
                .all()
            )
            if len(user_ids) < self.window_turns or not self.domain:
                return await self._retrieve_whole(sender_id)  # short conversation: nothing to trim
            boundary = user_ids[-1][0]
            first_window_row = query.filter(self.SQLEvent.id >= boundary).first()
            if first_window_row is None:  # no event at or after the boundary: nothing to trim
                return await self._retrieve_whole(sender_id)
            data = self.SQLEvent.data  # the column only: no ORM object per event
            state_rows = query.filter(self.SQLEvent.id < boundary,
                                      self.SQLEvent.type_name.in_(STATE_EVENTS)).with_entities(data).all()  # fmt: skip
            window = self._events(sender_id, query.filter(self.SQLEvent.id >= boundary).with_entities(data).all())

        prefix = self._state_snapshot(self._events(sender_id, state_rows), first_window_row.timestamp)
        tracker = DialogueStateTracker.from_dict(sender_id, prefix + window, self.domain.slots)
        setattr(tracker, WINDOW_ATTR, (len(prefix), len(window)))
        return tracker

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        """Rasa's ``_retrieve`` (``retrieve_full_tracker``, the HTTP API's whole history), opening the events."""
        if not fetch_events_from_all_sessions:
            return await self._retrieve_whole(sender_id)
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=True)
            events = self._events(sender_id, query.with_entities(self.SQLEvent.data).all())
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots) if self.domain and events \
            else None  # fmt: skip

    async def _retrieve_whole(self, sender_id: str) -> DialogueStateTracker | None:
        """Rasa's own ``_retrieve``, reading the ``data`` column only: building an ORM object for each event was
        ~20% of a relayed message's CPU (py-spy, 50 handoff chats)."""
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            rows = query.with_entities(self.SQLEvent.data).all()
        if not self.domain or not rows:
            return None
        # stored rows that did not open still make a tracker that knows where it stands: Rasa's COUNT of stored
        # rows would otherwise count them and skip as many new events when saving
        tracker = DialogueStateTracker.from_dict(sender_id, self._events(sender_id, rows), self.domain.slots)
        setattr(tracker, WINDOW_ATTR, (0, len(tracker.events)))  # every loaded event is stored: no COUNT query
        return tracker

    def _state_snapshot(self, state_events: list[dict[str, Any]], timestamp: float) -> list[dict[str, Any]]:
        """Slot values and active loop at the window's start, as synthetic events stamped just before it."""
        slots: dict[str, Any] = {}
        loop: str | None = None
        for e in state_events:
            kind = e.get("event")
            if kind == "slot":
                slots[e["name"]] = e.get("value")
            elif kind == "active_loop":
                loop = e.get("name")
            elif kind in ("reset_slots", "restart"):
                slots.clear()
                if kind == "restart":
                    loop = None
        initial = {s.name: s.initial_value for s in self.domain.slots}
        ts = (timestamp or 0.0) - 1e-3
        events: list[Event] = [SlotSet(k, v, timestamp=ts) for k, v in slots.items() if initial.get(k) != v]
        if loop:
            events.append(ActiveLoop(loop, timestamp=ts))
        return [e.as_dict() for e in events]

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save with each event's data sealed, plus (``outbox``) the stored lines appended to the outbox in
        the same transaction."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            events = [e.as_dict() for e in self._additional_events(session, tracker)]
            for data in events:
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=data.get("event"), timestamp=data.get("timestamp"),
                    intent_name=(data.get("parse_data") or {}).get("intent", {}).get("name"),
                    action_name=data.get("name"), data=self._sealed(tracker.sender_id, data),
                ))  # fmt: skip
            if self.outbox:
                from bot.events.outbox import publish
                from bot.ids import new_id
                from channels.archive_feed import messages_of

                publish(session, messages_of(tracker.sender_id, events, self.default_tenant, new_id))
            session.commit()

    def _unsaved(self, tracker: DialogueStateTracker) -> list[Event] | None:
        window = getattr(tracker, WINDOW_ATTR, None)
        if window is None:
            return None
        prefix, stored = window
        return list(itertools.islice(tracker.events, prefix + stored, None))

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        new = self._unsaved(tracker)
        if new is None or self.event_broker is None:
            await super().stream_events(tracker)
            return
        await self._stream_new_events(self.event_broker, new, tracker.sender_id)

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        new = self._unsaved(tracker)
        if new is None:
            return super()._additional_events(session, tracker)
        prefix, stored = getattr(tracker, WINDOW_ATTR)
        setattr(tracker, WINDOW_ATTR, (prefix, stored + len(new)))
        return iter(new)
