"""Two handoff instances on the machine's real MariaDB and Redis, claiming at once: never one session for
two agents, never an agent over capacity, every claim accounted for."""

from __future__ import annotations

import random
import threading
import uuid

import pytest
from sqlalchemy import func, select

from bot.errors import Conflict, CsbotError
from bot.security import Principal
from bot.storage.db import Database
from bot.storage.models import Session
from handoff import assignment as a
from handoff.config import HandoffConfig
from handoff.domain import STATE_CODE, CustomerRef
from handoff.models import Offer, SessionEvent
from handoff.presence.redis_backend import RedisPresence
from handoff.service import HandoffService
from handoff.states import State

from .conftest import Clock, Customers, make_desk

pytestmark = [pytest.mark.mariadb, pytest.mark.redis]


def test_two_instances_never_double_assign(mariadb_url: str) -> None:
    cfg = HandoffConfig(working_hours="00:00-24:00", offer_seconds=30)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    desk = make_desk(Database(mariadb_url), cfg)  # migrates, creates accounts
    clock = Clock()
    presences = [RedisPresence("redis://127.0.0.1:6379/0", 60, prefix) for _ in range(2)]
    instances = [HandoffService(Database(mariadb_url), presences[i], cfg, Customers(), clock=clock)
                 for i in range(2)]  # fmt: skip
    try:
        agents: list[Principal] = []
        for i in range(12):
            u = desk.users.create("default", f"storm{i}", f"客服{i}", {"agent"}, "password-123")
            agents.append(Principal(u.user_id, "default", frozenset({"agent"}), u.name))
            presences[0].heartbeat("default", u.user_id, clock())
        from sqlalchemy import update

        from bot.storage.models import User

        with desk.svc.db.session() as db:
            db.execute(update(User).values(capacity=2))
        for n in range(40):  # more sessions than slots (24)
            instances[n % 2].request(CustomerRef("default", f"storm-c{n}", "rest", f"c{n}"), "other")

        errors: list[BaseException] = []
        rng = random.Random(7)

        def worker(k: int) -> None:
            svc = instances[k % 2]
            for _ in range(30):
                try:
                    with svc.db.session() as db:
                        waiting = [s.session_id for s in db.scalars(select(Session).where(
                            Session.session_state == STATE_CODE[State.WAITING]))]  # fmt: skip
                        mine = db.scalars(select(Offer).where(Offer.status == Offer.PENDING)).all()
                    if mine and rng.random() < 0.5:
                        o = rng.choice(mine)
                        who = next(x for x in agents if x.user_id == o.agent_id)
                        a.accept(svc, who, o.offer_id)
                    elif waiting:
                        a.take(svc, rng.choice(agents), rng.choice(waiting))
                    else:
                        a.assign_pass(svc, "default")
                except (Conflict, CsbotError):
                    pass  # lost a race: exactly what must happen to all but one
                except BaseException as exc:  # anything else is a bug
                    errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]

        with desk.svc.db.session() as db:
            active = db.scalars(select(Session).where(Session.session_state == STATE_CODE[State.ACTIVE])).all()
            per_agent: dict[int, int] = {}
            for s in active:
                per_agent[s.agent_id] = per_agent.get(s.agent_id, 0) + 1
            assert max(per_agent.values()) <= 2  # nobody over capacity
            assert len(active) == 24  # every slot filled once the storm settled
            # one assignment event per active session: never given twice
            assigned = dict(db.execute(select(SessionEvent.session_id, func.count()).where(
                SessionEvent.event == "agent_assigned").group_by(SessionEvent.session_id)).all())  # fmt: skip
            assert all(assigned.get(s.session_id) == 1 for s in active)
            accepted = dict(db.execute(select(Offer.session_id, func.count()).where(
                Offer.status == Offer.ACCEPTED).group_by(Offer.session_id)).all())  # fmt: skip
            assert all(n == 1 for n in accepted.values())
    finally:
        for p in presences:
            for key in p._r.scan_iter(f"{prefix}:*"):
                p._r.delete(key)
            p.close()
