"""The SQL the handoff service runs. Every query filters on the tenant; every state change is a
compare-and-set on the row's state (and version), so two handoff instances never both win one change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as Db

from bot.ids import new_id
from bot.storage.models import Session, User
from handoff.domain import OPEN_CODES, STATE_CODE, CustomerRef
from handoff.models import AgentFeed, Offer, SessionEvent
from handoff.reports import SessionTimes
from handoff.states import Event, State, Transition

AGENT_ROLES = ("agent", "supervisor")


def open_session(db: Db, tenant_id: str, conversation_id: str) -> Session | None:
    return db.scalar(select(Session).where(Session.tenant_id == tenant_id, Session.conversation_id == conversation_id,
                                           Session.session_state.in_(OPEN_CODES)).order_by(Session.created_at.desc())
                     .limit(1))  # fmt: skip


def get_session(db: Db, tenant_id: str, session_id: int, lock: bool = False) -> Session | None:
    q = select(Session).where(Session.tenant_id == tenant_id, Session.session_id == session_id)
    return db.scalar(q.with_for_update() if lock else q)


def customer_user(db: Db, ref: CustomerRef) -> int:
    """The customer's cs_user row (user_type 0), created on first contact: cs_session.customer_id points at it."""
    uid = db.scalar(select(User.user_id).where(User.tenant_id == ref.tenant_id, User.external_id == ref.customer_id,
                                               User.user_type == User.CUSTOMER))  # fmt: skip
    if uid is not None:
        return int(uid)
    user = User(user_id=new_id(), tenant_id=ref.tenant_id, external_id=ref.customer_id,
                nick_name=(ref.name or ref.customer_id)[:64], user_type=User.CUSTOMER, status=1)  # fmt: skip
    db.add(user)
    db.flush()
    return user.user_id


def position(db: Db, s: Session) -> int:
    """1 = next in its queue."""
    before = (Session.queue_rank < s.queue_rank) | (
        (Session.queue_rank == s.queue_rank) & (Session.session_id < s.session_id))  # ties: who came first
    ahead = db.scalar(select(func.count()).select_from(Session).where(
        Session.tenant_id == s.tenant_id, Session.session_state == STATE_CODE[State.WAITING],
        Session.skill_group == s.skill_group, before))  # fmt: skip
    return int(ahead or 0) + 1


def waiting(db: Db, tenant_id: str, groups: Collection[str] | None = None, limit: int = 200,
            skip_locked: bool = False, unoffered: bool = False) -> list[Session]:  # fmt: skip
    """Waiting sessions in queue order; ``unoffered``: only those without a pending offer."""
    q = select(Session).where(Session.tenant_id == tenant_id, Session.session_state == STATE_CODE[State.WAITING])
    if groups is not None:
        q = q.where(Session.skill_group.in_(list(groups)))
    if unoffered:
        pending = select(Offer.offer_id).where(Offer.session_id == Session.session_id, Offer.status == Offer.PENDING)
        q = q.where(~pending.exists())
    q = q.order_by(Session.queue_rank, Session.session_id).limit(limit)
    if skip_locked:  # MySQL/MariaDB: two instances pick different sessions; SQLite serialises writers anyway
        q = q.with_for_update(skip_locked=True)
    return list(db.scalars(q))


def open_sessions(db: Db, tenant_id: str, agent_id: int | None = None) -> list[Session]:
    q = select(Session).where(Session.tenant_id == tenant_id, Session.session_state.in_(OPEN_CODES))
    if agent_id is not None:
        q = q.where(Session.agent_id == agent_id)
    return list(db.scalars(q.order_by(Session.queued_at)))


def day(db: Db, tenant_id: str, since: float) -> list[SessionTimes]:
    """The tenant's sessions queued since ``since`` (epoch seconds), as the day's counts read them."""
    closed = STATE_CODE[State.CLOSED]
    q = select(Session.created_at, Session.queued_at, Session.assigned_at, Session.first_response_at,
               Session.session_state, Session.agent_id, Session.csat)  # fmt: skip
    q = q.where(Session.tenant_id == tenant_id, Session.queued_at >= since)
    return [SessionTimes(min(_epoch(r[0]), r[1] or since), r[1] or since, r[2], r[3], r[4] == closed, r[5], r[6])
            for r in db.execute(q)]  # fmt: skip


def _epoch(naive_utc: Any) -> float:
    return float(naive_utc.replace(tzinfo=dt.timezone.utc).timestamp()) if naive_utc is not None else float("inf")


def due(db: Db, tenant_id: str, now: float, cfg: Any, online: set[int] | None) -> list[tuple[Session, Event]]:
    """The sessions a timeout (or an agent gone offline) applies to now, each with its event: indexed queries
    for the few that are due, not a scan of every open session every second."""
    active, warning, wait = (STATE_CODE[x] for x in (State.ACTIVE, State.WARNING, State.WAITING))
    base = select(Session).where(Session.tenant_id == tenant_id)
    out: list[tuple[Session, Event]] = []
    lost: set[int] = set()
    if online is not None:
        q = base.where(Session.session_state.in_((active, warning)), Session.agent_id.is_not(None),
                       Session.agent_id.not_in(online or {0}))  # fmt: skip
        for s in db.scalars(q):
            out.append((s, Event.AGENT_LOST))
            lost.add(s.session_id)
    checks = (
        (Session.session_state == active, Session.last_customer_at < now - cfg.silence_seconds, Event.SILENCE_TIMEOUT),
        (Session.session_state == warning, Session.warned_at < now - cfg.close_after_warning_seconds,
         Event.TIMEOUT_EXCEEDED),
        (Session.session_state == wait, Session.queued_at < now - cfg.max_wait_seconds, Event.QUEUE_TIMEOUT),
    )  # fmt: skip
    for state_is, overdue, event in checks:
        out += [(s, event) for s in db.scalars(base.where(state_is, overdue)) if s.session_id not in lost]
    return out


def cas_state(db: Db, s: Session, t: Transition, **values: Any) -> bool:
    """Apply a transition if the row is still where ``s`` saw it (state and version); False if someone else
    moved it first. ``s`` is refreshed on success."""
    res = db.execute(update(Session).where(Session.session_id == s.session_id, Session.version == s.version,
                                           Session.session_state == STATE_CODE[t.before])
                     .values(session_state=STATE_CODE[t.after], version=Session.version + 1, **values)
                     .execution_options(synchronize_session=False))  # fmt: skip
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.refresh(s)
    return True


def add_event(db: Db, s: Session, t: Transition, now: float, actor: int | None = None,
              detail: dict[str, Any] | None = None) -> None:  # fmt: skip
    record_event(db, s, t.event.value, t.before.value, t.after.value, now, actor, detail)


def record_event(db: Db, s: Session, event: str, before: str | None, after: str, now: float,
                 actor: int | None = None, detail: dict[str, Any] | None = None) -> None:  # fmt: skip
    """A session's state change: its history row and its event on the stream, in the caller's transaction."""
    from bot.events.envelope import StreamEvent
    from bot.events.outbox import publish

    event_id = new_id()
    db.add(SessionEvent(event_id=event_id, tenant_id=s.tenant_id, session_id=s.session_id, event=event,
                        from_state=before, to_state=after, actor_id=actor, detail=detail, at=now))  # fmt: skip
    data = {"session_id": str(s.session_id), "event": event, "from": before, "to": after,
            "agent_id": str(s.agent_id) if s.agent_id else None, "actor_id": str(actor) if actor else None,
            "channel": s.channel, "reason": s.reason, "detail": detail}  # fmt: skip
    publish(db, [StreamEvent(event_id, "session", s.tenant_id, s.conversation_id or f"session:{s.session_id}",
                             now, data)])  # fmt: skip


def staff(db: Db, tenant_id: str) -> list[User]:
    """Agents and supervisors of the tenant (active accounts)."""
    rows = db.scalars(select(User).where(User.tenant_id == tenant_id, User.user_type != User.CUSTOMER,
                                         User.status == 1))  # fmt: skip
    return [u for u in rows if set((u.roles or "").split(",")) & {*AGENT_ROLES, "admin"}]


def loads(db: Db, tenant_id: str) -> dict[int, int]:
    """Open chats plus pending offers per agent: what counts against capacity."""
    out: dict[int, int] = {}
    for agent_id, n in db.execute(select(Session.agent_id, func.count()).where(
            Session.tenant_id == tenant_id, Session.session_state.in_((STATE_CODE[State.ACTIVE],
                                                                       STATE_CODE[State.WARNING])),
            Session.agent_id.is_not(None)).group_by(Session.agent_id)):  # fmt: skip
        out[int(agent_id)] = int(n)
    for agent_id, n in db.execute(select(Offer.agent_id, func.count()).where(
            Offer.tenant_id == tenant_id, Offer.status == Offer.PENDING).group_by(Offer.agent_id)):  # fmt: skip
        out[int(agent_id)] = out.get(int(agent_id), 0) + int(n)
    return out


def pending_offer(db: Db, session_id: int) -> Offer | None:
    return db.scalar(select(Offer).where(Offer.session_id == session_id, Offer.status == Offer.PENDING))


def refused_by(db: Db, session_id: int) -> set[int]:
    """Agents who declined this session or let its offer expire since it was last queued."""
    return set(db.scalars(select(Offer.agent_id).where(Offer.session_id == session_id,
                                                       Offer.status.in_((Offer.DECLINED, Offer.EXPIRED)))))


def feed(db: Db, tenant_id: str, agent_id: int | None, kind: str, session_id: int | None,
         payload: dict[str, Any], now: float) -> None:  # fmt: skip
    db.add(AgentFeed(tenant_id=tenant_id, agent_id=agent_id, kind=kind, session_id=session_id, payload=payload,
                     at=now))  # fmt: skip


def feed_after(db: Db, tenant_id: str, agent_id: int, supervisor: bool, cursor: int,
               limit: int = 500) -> list[AgentFeed]:  # fmt: skip
    mine = AgentFeed.agent_id == agent_id
    who = mine | AgentFeed.agent_id.is_(None) if supervisor else mine
    return list(db.scalars(select(AgentFeed).where(AgentFeed.tenant_id == tenant_id, AgentFeed.seq > cursor, who)
                           .order_by(AgentFeed.seq).limit(limit)))  # fmt: skip
