"""Two handoff instances on the machine's real MariaDB, each with its own connections, running the tickets'
clock at the same moment: every breach escalates exactly once, every left message becomes exactly one ticket,
and tickets opened at once get distinct numbers of the day."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.events.table import outbox
from bot.ids import new_id
from bot.storage.db import Database
from bot.storage.models import Ticket
from handoff import assignment as a
from handoff.models import LeftMessage
from handoff.tickets.auto import sweep_left_messages
from handoff.tickets.service import tickets_of
from handoff.tickets.sla import evaluate

from ..conftest import Desk, make_desk

pytestmark = pytest.mark.mariadb
N = 30


@pytest.fixture
def desks(mariadb_url: str) -> Iterator[tuple[Desk, Desk]]:
    one, two = Database(mariadb_url), Database(mariadb_url)
    first, second = make_desk(one), make_desk(two)
    second.clock = first.clock
    second.svc.clock = first.clock  # one wall clock for both instances
    yield first, second
    one.dispose()
    two.dispose()


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same instant."""
    gate, out = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def ticket_events(desk: Desk, what: str) -> list[dict[str, Any]]:
    with desk.svc.db.engine.connect() as c:
        bodies = c.scalars(select(outbox.c.body).where(outbox.c.kind == "ticket")).all()
    return [d for d in (json.loads(b)["data"] for b in bodies) if d["event"] == what]


def test_two_instances_escalate_each_breach_once(desks: tuple[Desk, Desk]) -> None:
    one, two = desks
    agent = one.agent("xiaowang")
    sid = one.ask("race-1").session_id
    a.take(one.svc, agent, sid)  # type: ignore[arg-type]
    for i in range(N):
        tickets_of(one.svc).create(agent, title=f"工单{i}", session_id=sid)
    one.advance(121 * 60)
    won = together(lambda: evaluate(one.svc), lambda: evaluate(two.svc))
    assert sum(won) == N
    assert together(lambda: evaluate(one.svc), lambda: evaluate(two.svc)) == [0, 0]
    with one.svc.db.session() as db:
        rows = db.execute(select(Ticket.escalation_level, Ticket.priority)).all()
    assert sorted(set(rows)) == [(1, 2)] and len(rows) == N
    assert len(ticket_events(one, "escalated")) == N
    # the next deadline (60 min at priority 2) passes: one more escalation each, through both clocks
    one.advance(61 * 60)
    for svc in (one.svc, two.svc):
        tickets_of(svc).last_sweep = float("-inf")
    together(lambda: a.tick(one.svc), lambda: a.tick(two.svc))
    with one.svc.db.session() as db:  # (the chat itself timed out meanwhile: its own new ticket is not counted)
        assert set(db.scalars(select(Ticket.escalation_level).where(Ticket.source == "agent"))) == {2}
    assert len(ticket_events(one, "escalated")) == 2 * N


def test_two_instances_ticket_each_left_message_once_with_distinct_numbers(desks: tuple[Desk, Desk]) -> None:
    one, two = desks
    with one.svc.db.session() as db:
        for i in range(N):
            db.add(LeftMessage(left_id=new_id(), tenant_id="default", conversation_id=f"night-{i}",
                               customer_ref=f"u{i}", text=f"快递还没到 {i}", status="new"))  # fmt: skip
    done = together(lambda: sweep_left_messages(one.svc), lambda: sweep_left_messages(two.svc))
    assert sum(done) == N
    with one.svc.db.session() as db:
        numbers = list(db.scalars(select(Ticket.ticket_no)))
        assert db.scalar(select(func.count()).select_from(LeftMessage).where(LeftMessage.status == "new")) == 0
        db.execute(update(LeftMessage).values(status="new"))  # as if both crashed before marking: the key holds
    assert sorted(numbers) == [f"T260101{n:04d}" for n in range(1, N + 1)]
    together(lambda: sweep_left_messages(one.svc), lambda: sweep_left_messages(two.svc))
    with one.svc.db.session() as db:
        assert db.scalar(select(func.count()).select_from(Ticket)) == N
    assert len(ticket_events(one, "created")) == N
    for i in range(N):  # each customer was told once
        told = one.customers.texts(f"night-{i}") + two.customers.texts(f"night-{i}")
        assert len([x for x in told if "工单号" in x]) == 1
