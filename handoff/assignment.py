"""Offers, claims, transfers, presence changes and the timeouts: the moving parts of the queue.

Claims are compare-and-sets on the session row (``repository.cas_state``) and on the offer row, inside one
transaction that also counts the agent's open chats: two instances (or two agents clicking at once) never
give one session to two agents, nor an agent more chats than their capacity (the agent's ``cs_user`` row is
locked ``FOR UPDATE`` while counting on MySQL/MariaDB; SQLite serialises writers).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from bot.errors import Conflict, Forbidden, InvalidInput, NotFound
from bot.ids import new_id
from bot.security import Principal
from bot.storage.db import retry_transient
from bot.storage.models import Session, User
from handoff import domain as d
from handoff import repository as repo
from handoff.metrics import ASSIGNMENT, QUEUE_WAIT
from handoff.models import Offer
from handoff.notify import notify_due
from handoff.policy import AgentView, choose_agent
from handoff.states import Event, State

FULL_PASS_SECONDS = 5.0
log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from handoff.service import Effects, HandoffService


def _fx() -> Effects:
    from handoff.service import Effects

    return Effects()


def agent_views(svc: HandoffService, db: Any, tenant_id: str, now: float) -> list[AgentView]:
    users = svc.staff(db, tenant_id, svc.presence.online(tenant_id, now))
    presence = svc.presence.get(tenant_id, [u.user_id for u in users], now)
    loads = repo.loads(db, tenant_id)
    last = dict(db.execute(select(Session.agent_id, func.max(Session.assigned_at)).where(
        Session.tenant_id == tenant_id, Session.agent_id.is_not(None)).group_by(Session.agent_id)).all())  # fmt: skip
    offering = set(db.scalars(select(Offer.agent_id).where(Offer.tenant_id == tenant_id,
                                                           Offer.status == Offer.PENDING)))  # fmt: skip
    return [AgentView(u.user_id, frozenset(g for g in (u.skills or "").split(",") if g), int(u.capacity or 5),
                      loads.get(u.user_id, 0), presence[u.user_id].online, presence[u.user_id].available,
                      float(last.get(u.user_id) or 0.0), u.user_id in offering) for u in users]  # fmt: skip


@ASSIGNMENT.time()
@retry_transient
def assign_pass(svc: HandoffService, tenant_id: str) -> int:
    """Offer every waiting session that has no pending offer to the best eligible agent. Returns the number of
    offers made."""
    now, fx, made = svc.clock(), _fx(), 0
    with svc.db.session() as db:
        agents = {a.agent_id: a for a in agent_views(svc, db, tenant_id, now)}
        free = [a for a in agents.values() if a.online and a.available and a.load < a.capacity and not a.offering]
        if not free:
            return 0
        # only the groups someone free serves, only sessions not already offered, a few more than free agents
        # (some were refused by them): the queue may hold thousands in other groups
        groups = None if any(not a.groups for a in free) else set().union(*(a.groups for a in free))
        for s in repo.waiting(db, tenant_id, groups, limit=3 * len(free) + 20, skip_locked=True, unoffered=True):
            pick = choose_agent(agents.values(), s.skill_group or "", repo.refused_by(db, s.session_id),
                                s.target_agent_id)  # fmt: skip
            if pick is None:
                continue
            offer = Offer(offer_id=new_id(), tenant_id=tenant_id, session_id=s.session_id, agent_id=pick.agent_id,
                          status=Offer.PENDING, created_at=now, expires_at=now + svc.cfg.offer_seconds)  # fmt: skip
            db.add(offer)
            payload = {"offer_id": str(offer.offer_id), "expires_at": offer.expires_at, "session": d.view(s).to_json(),
                       "position": repo.position(db, s)}  # fmt: skip
            svc._feed(db, fx, s, "offer", payload, {pick.agent_id})
            agents[pick.agent_id] = AgentView(pick.agent_id, pick.groups, pick.capacity, pick.load + 1, pick.online,
                                              pick.available, now, offering=True)  # fmt: skip
            made += 1
    svc.deliver(fx)
    return made


def _claim(svc: HandoffService, db: Any, fx: Effects, s: Session, agent_id: int, now: float, actor: int) -> None:
    """WAITING → ACTIVE for ``agent_id``, within their capacity."""
    agent = db.scalar(select(User).where(User.user_id == agent_id, User.tenant_id == s.tenant_id).with_for_update())
    if agent is None or agent.user_type == User.CUSTOMER:
        raise NotFound(f"no agent {agent_id}")
    # a locking read: under REPEATABLE READ a plain one would count from the snapshot taken before the lock wait
    busy = len(db.scalars(select(Session.session_id).where(
        Session.agent_id == agent_id, Session.session_state.in_((d.STATE_CODE[State.ACTIVE],
                                                                  d.STATE_CODE[State.WARNING])))
        .with_for_update()).all())  # fmt: skip
    if int(busy or 0) >= int(agent.capacity or 5):
        raise Conflict(f"agent {agent_id} is at capacity ({agent.capacity} chats)")
    # any other pending offer of this session is withdrawn
    db.execute(update(Offer).where(Offer.session_id == s.session_id, Offer.status == Offer.PENDING)
               .values(status=Offer.WITHDRAWN))  # fmt: skip
    svc._transition(db, fx, s, Event.AGENT_ASSIGNED, now, actor, {"agent_id": str(agent_id)}, agent_id=agent_id,
                    assigned_at=now, target_agent_id=None)  # fmt: skip
    QUEUE_WAIT.observe(max(0.0, now - float(s.queued_at or now)))


@retry_transient
def accept(svc: HandoffService, who: Principal, offer_id: int) -> d.SessionView:
    now, fx = svc.clock(), _fx()
    with svc.db.session() as db:
        offer = db.scalar(select(Offer).where(Offer.offer_id == offer_id, Offer.tenant_id == who.tenant_id))
        if offer is None or offer.agent_id != who.user_id:
            raise NotFound(f"no offer {offer_id} for you")
        won = db.execute(update(Offer).where(Offer.offer_id == offer_id, Offer.status == Offer.PENDING,
                                             Offer.expires_at > now).values(status=Offer.ACCEPTED))  # fmt: skip
        if won.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this offer has expired or was withdrawn")
        s = repo.get_session(db, who.tenant_id, offer.session_id)
        assert s is not None
        _claim(svc, db, fx, s, who.user_id, now, who.user_id)
        out = d.view(s)
    svc.deliver(fx)
    svc.offer_now(who.tenant_id)  # their next offer, if they have room
    return out


@retry_transient
def decline(svc: HandoffService, who: Principal, offer_id: int) -> None:
    with svc.db.session() as db:
        done = db.execute(update(Offer).where(Offer.offer_id == offer_id, Offer.tenant_id == who.tenant_id,
                                              Offer.agent_id == who.user_id, Offer.status == Offer.PENDING)
                          .values(status=Offer.DECLINED))  # fmt: skip
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(f"no pending offer {offer_id} for you")
    assign_pass(svc, who.tenant_id)


@retry_transient
def take(svc: HandoffService, who: Principal, session_id: int, agent_id: int | None = None) -> d.SessionView:
    """An agent takes a waiting session of their groups; a supervisor may give one to any agent."""
    target = agent_id or who.user_id
    if target != who.user_id and not ({"supervisor", "admin"} & who.roles):
        raise Forbidden("only a supervisor assigns sessions to others")
    now, fx = svc.clock(), _fx()
    with svc.db.session() as db:
        s = svc._mine(db, who, session_id, write=False)
        groups = {u.user_id: set((u.skills or "").split(",")) - {""} for u in repo.staff(db, who.tenant_id)}
        if target not in groups:
            raise NotFound(f"no agent {target}")
        if groups[target] and s.skill_group not in groups[target] and target == who.user_id:
            raise Forbidden(f"session {session_id} waits for group {s.skill_group}, not yours")
        _claim(svc, db, fx, s, target, now, who.user_id)
        out = d.view(s)
    svc.deliver(fx)
    return out


@retry_transient
def transfer(svc: HandoffService, who: Principal, session_id: int, agent_id: int | None, group: str | None,
             note: str) -> d.SessionView:  # fmt: skip
    if not agent_id and not group:
        raise InvalidInput("transfer to an agent_id or a group")
    now, fx = svc.clock(), _fx()
    with svc.db.session() as db:
        s = svc._mine(db, who, session_id, write=True)
        if agent_id and agent_id not in {u.user_id for u in repo.staff(db, who.tenant_id)}:
            raise NotFound(f"no agent {agent_id}")
        svc._transition(db, fx, s, Event.TRANSFER, now, who.user_id,
                        {"to_agent": str(agent_id) if agent_id else None, "to_group": group, "note": note[:500]},
                        target_agent_id=agent_id, transfer_note=note[:500] or None,
                        skill_group=group or s.skill_group)  # fmt: skip
        out = d.view(s)
    svc.deliver(fx)
    assign_pass(svc, who.tenant_id)
    return out


# --- presence --------------------------------------------------------------------------------------
def heartbeat(svc: HandoffService, who: Principal) -> None:
    was_online = who.user_id in svc.presence.online(who.tenant_id, svc.clock())
    svc.presence.heartbeat(who.tenant_id, who.user_id, svc.clock())
    if not was_online:
        assign_pass(svc, who.tenant_id)


def set_available(svc: HandoffService, who: Principal, available: bool) -> None:
    svc.presence.set_available(who.tenant_id, who.user_id, available)
    svc.presence.heartbeat(who.tenant_id, who.user_id, svc.clock())
    if not available:  # what was offered to them goes to someone who is taking chats
        with svc.db.session() as db:
            db.execute(update(Offer).where(Offer.tenant_id == who.tenant_id, Offer.agent_id == who.user_id,
                                           Offer.status == Offer.PENDING).values(status=Offer.WITHDRAWN))  # fmt: skip
    assign_pass(svc, who.tenant_id)


# --- the clock -------------------------------------------------------------------------------------
def tick(svc: HandoffService) -> None:
    """Expire offers, remind and close silent customers, time out long waits, take chats back from agents who
    went offline, then offer what waits. Safe to run on every instance: each change is a compare-and-set."""
    now, cfg = svc.clock(), svc.cfg
    try:
        svc.maintain_live()
    except Exception:  # Redis away: lookups ask the database meanwhile
        log.warning("live sessions not rebuilt", exc_info=True)
    with svc.db.session() as db:
        tenants = set(db.scalars(select(Session.tenant_id).where(Session.session_state.in_(d.OPEN_CODES)).distinct()))
    for tenant in tenants:
        fx = _fx()
        with svc.db.session() as db:
            expired = db.execute(update(Offer).where(Offer.tenant_id == tenant, Offer.status == Offer.PENDING,
                                                     Offer.expires_at <= now).values(status=Offer.EXPIRED))  # fmt: skip
            online = svc.presence.online(tenant, now)
            due = repo.due(db, tenant, now, cfg, online if cfg.requeue_on_offline else None)
            for s, event in due:
                try:
                    if event is Event.AGENT_LOST:
                        svc._transition(db, fx, s, event, now, None, {"agent_id": str(s.agent_id)})
                        fx.customer.append(("say", s.conversation_id or "", (d.AGENT_LEFT,)))
                    elif event is Event.SILENCE_TIMEOUT:
                        svc._transition(db, fx, s, event, now, warned_at=now)
                    else:
                        svc._transition(db, fx, s, event, now)
                except Conflict:
                    continue  # another instance moved it first
            # offers to agents who went offline are withdrawn, so the session goes to someone who is there
            gone = update(Offer).where(Offer.tenant_id == tenant, Offer.status == Offer.PENDING,
                                       Offer.agent_id.not_in(online or {0}))  # fmt: skip
            withdrawn = db.execute(gone.values(status=Offer.WITHDRAWN))
        svc.deliver(fx)
        # every change that frees a session or an agent offers at once; the clock only has to catch what changed
        # by itself (offers expired, agents gone, sessions requeued), plus a full pass every few seconds
        changed = expired.rowcount or withdrawn.rowcount or due  # type: ignore[attr-defined]
        if changed or now - svc.last_full_pass.get(tenant, 0.0) >= FULL_PASS_SECONDS:
            svc.last_full_pass[tenant] = now
            assign_pass(svc, tenant)
            tell_positions(svc, tenant, now)
        if cfg.notify_url:
            notify_due(svc, tenant, now)
    from handoff.tickets.sla import step as tickets_step

    tickets_step(svc)  # left messages into tickets, SLA breaches escalated (every tickets.sweep_seconds)


def tell_positions(svc: HandoffService, tenant_id: str, now: float) -> None:
    """A waiting customer hears their new place as the queue moves: at most once per
    ``position_update_seconds``, and only when it changed since they were last told."""
    fx = _fx()
    with svc.db.session() as db:
        place: dict[str, int] = {}
        for s in repo.waiting(db, tenant_id, limit=100_000):
            group = s.skill_group or ""
            place[group] = place.get(group, 0) + 1
            told = svc.told_position.get(s.session_id)
            if told is None or told[0] != place[group]:
                fx.live.append((s.session_id, {"queue_pos": place[group]}))
            if told is None:
                svc.told_position[s.session_id] = (place[group], now)
            elif told[0] != place[group] and now - told[1] >= svc.cfg.position_update_seconds:
                svc.told_position[s.session_id] = (place[group], now)
                fx.customer.append(("say", s.conversation_id or "", (d.STILL_WAITING.format(ahead=place[group] - 1),)))
    svc.deliver(fx)
