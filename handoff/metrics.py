"""The handoff service's metrics: how long customers wait for an agent, how long an assignment pass takes,
SLA breaches, and two gauges read from the database at scrape (the database decides, not one instance's
memory): chats waiting in the queue and chats an agent is handling, over every tenant. Several instances
report the same gauges: max() them in PromQL, don't sum. Defined here, not in bot.metrics, so only the
handoff process exports them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from bot.metrics import LATENCY_BUCKETS, register_collector
from bot.storage.db import Database
from bot.storage.models import Session
from handoff import domain as d
from handoff.states import State

WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
QUEUE_WAIT = Histogram("csbot_handoff_queue_wait_seconds", "From asking for a person to an agent taking the chat "
                       "(a chat put back in the queue counts from its first request)", buckets=WAIT_BUCKETS)
ASSIGNMENT = Histogram("csbot_handoff_assignment_seconds", "One assignment pass (offering waiting chats to agents)",
                       buckets=LATENCY_BUCKETS)  # fmt: skip
SLA_BREACHES = Counter("csbot_ticket_sla_breaches_total", "Tickets escalated for a missed SLA deadline (each "
                       "breach once across instances)")  # fmt: skip


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
