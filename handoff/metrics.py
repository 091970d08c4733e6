"""The handoff service's gauges, read from the database at scrape (the database decides, not one instance's
memory): chats waiting in the queue and chats an agent is handling, over every tenant. Several instances
report the same numbers: max() them in PromQL, don't sum."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from bot.metrics import register_collector
from bot.storage.db import Database
from bot.storage.models import Session
from handoff import domain as d
from handoff.states import State


def families(db: Database) -> Iterator[Any]:
    with db.engine.connect() as conn:
        counts = dict(conn.execute(select(Session.session_state, func.count()).where(
            Session.session_state.in_(d.OPEN_CODES)).group_by(Session.session_state)).all())  # fmt: skip
    waiting = counts.get(d.STATE_CODE[State.WAITING], 0)
    active = counts.get(d.STATE_CODE[State.ACTIVE], 0) + counts.get(d.STATE_CODE[State.WARNING], 0)
    yield GaugeMetricFamily("csbot_handoff_queue_length", "Chats waiting for an agent", value=waiting)
    yield GaugeMetricFamily("csbot_handoff_active_sessions", "Chats an agent is handling", value=active)


def register(db: Database) -> None:
    register_collector("handoff", lambda: families(db))
