"""Rows for the report tests, written straight into the tables (archive lines sealed as the archiver seals them),
with the numbers they must give worked out by hand next to them. Shared by the API, CLI and page tests."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.crypto import cipher_from_settings
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import Message, Session, Ticket
from bot.users import UserService
from handoff.models import SessionEvent
from handoff.reports.queries import id_at, naive_utc

CN = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 12) -> float:
    """An epoch second in 2026, Shanghai time (the handoff's default time zone)."""
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=CN).timestamp()


def snowflake(ts: float) -> int:
    """An id minted at ``ts``, as new_id() would have (unique within a test run)."""
    return id_at(ts) + next(_seq)


NOW = at(5, 0)  # the reports are asked for on December 5th


@dataclass(frozen=True)
class Seeded:
    amy: int  # 小王
    bob: int  # 小李


Step = tuple[str, str, float, int | None]  # event, to_state, at, agent


class Seeder:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.cipher = cipher_from_settings(settings)

    def line(self, tenant: str, conv: str, role: int, ts: float, agent: int = 0) -> None:
        msg_id = snowflake(ts)
        key_id, blob = self.cipher.seal(json.dumps({"text": "……"}).encode(), aad=f"{tenant}:{msg_id}".encode())
        with self.db.session() as s:
            s.add(Message(msg_id=msg_id, session_id=abs(hash(conv)) % 10**9, tenant_id=tenant, conversation_id=conv,
                          channel="rest", customer_ref=conv, sender_id=agent, sender_role=role, msg_type=0,
                          key_id=key_id, content=blob, created_at=naive_utc(ts)))  # fmt: skip

    def session(self, tenant: str, conv: str, asked: float, reason: str, steps: list[Step],
                first: float | None = None, csat: int | None = None) -> int:  # fmt: skip
        """A session and its events: ``steps`` are (event, to_state, at, agent) after the customer asked."""
        sid = snowflake(asked)
        assigned = [t for e, _, t, _ in steps if e == "agent_assigned"]
        agents = [a for e, _, _, a in steps if e == "agent_assigned"]
        closed = [t for _, to, t, _ in steps if to == "closed"]
        state = {"waiting": 0, "active": 1, "closed": 2, "warning": 3}[steps[-1][1] if steps else "waiting"]
        with self.db.session() as s:
            s.add(Session(session_id=sid, tenant_id=tenant, customer_id=1, conversation_id=conv, channel="rest",
                          reason=reason, session_state=state, queued_at=asked, assigned_at=assigned[-1] if assigned
                          else None, agent_id=agents[-1] if agents else None, first_response_at=first, csat=csat,
                          created_at=naive_utc(asked), closed_at=naive_utc(closed[0]) if closed else None))  # fmt: skip
            s.add(SessionEvent(event_id=snowflake(asked), tenant_id=tenant, session_id=sid, event="queued",
                               to_state="waiting", at=asked))  # fmt: skip
            state_name = "waiting"
            for event, to, t, agent in steps:
                s.add(SessionEvent(event_id=snowflake(t), tenant_id=tenant, session_id=sid, event=event,
                                   from_state=state_name, to_state=to, actor_id=agent,
                                   detail={"agent_id": str(agent)} if agent else None, at=t))  # fmt: skip
                state_name = to
        return sid

    def ticket(self, tenant: str, category: str | None, assignee: int | None, due: float, resolved: float | None,
               status: int, updated: float | None = None) -> None:  # fmt: skip
        created = due - 7200
        with self.db.session() as s:
            s.add(Ticket(ticket_id=snowflake(created), tenant_id=tenant, category=category, title="工单",
                         priority=3, status=status, assignee_id=assignee, sla_minutes=120,
                         expired_at=naive_utc(due), created_at=naive_utc(created),
                         updated_at=naive_utc(updated or resolved or created),
                         resolved_at=naive_utc(resolved) if resolved else None))  # fmt: skip


def seed(settings: Settings, db: Database) -> Seeded:
    """December 1st and 2nd in tenant default, with acme's rows and rows just outside the period beside them.

    Expected for default, 2026-12-01..2026-12-02, asked on the 5th:
    conversations 4 (1st: w-a self-served, u-b handed off; 2nd: u-b again with no bot line, u-c handed off),
    self-served 1 (0.25), handed off 2 (0.5); sessions 3, served 2, abandoned 1; waits 900, 60 (avg 480, p90
    900); first responses 960, 120 (avg 540, p90 960); handle 1380 (300 小王 + 1080 小李), 600 (avg 990, p90 1380);
    tickets due 4, met 2 (0.5); CSAT 4 and 5 (4.5, 2)."""
    users = UserService(db)
    amy = users.create("default", "xiaowang", "小王", {"agent"}, "password-123").user_id
    bob = users.create("default", "xiaoli", "小李", {"agent"}, "password-123").user_id
    sd = Seeder(settings, db)
    user, agent, bot = Message.FROM_USER, Message.FROM_AGENT, Message.FROM_BOT
    # archive
    sd.line("default", "w-a", user, at(1, 10))
    sd.line("default", "w-a", bot, at(1, 10, 0, 2))
    for role, ts in ((user, at(1, 23, 40)), (bot, at(1, 23, 40, 1)), (user, at(1, 23, 49))):
        sd.line("default", "u-b", role, ts)
    sd.line("default", "u-b", agent, at(2, 0, 6), amy)  # after midnight: the 2nd, with no bot line
    sd.line("default", "u-b", user, at(2, 0, 8))
    for role, ts in ((user, at(2, 9)), (bot, at(2, 9, 0, 1)), (user, at(2, 9, 1))):
        sd.line("default", "u-c", role, ts)
    sd.line("default", "w-d", bot, at(2, 12))  # a greeting nobody answered: not a conversation
    sd.line("default", "w-e", user, at(1, 0) - 1)  # 23:59:59 on Nov 30: before the period
    sd.line("default", "w-e", bot, at(1, 0) - 0.5)
    sd.line("default", "w-g", user, at(3, 0))  # the first second of the 3rd: after it
    sd.line("acme", "x", user, at(1, 11))
    sd.line("acme", "x", bot, at(1, 11, 0, 1))
    # sessions
    sd.session("default", "u-b", at(1, 23, 50), "complaint", [
        ("agent_assigned", "active", at(2, 0, 5), amy), ("transfer", "waiting", at(2, 0, 10), amy),
        ("agent_assigned", "active", at(2, 0, 12), bob), ("agent_end", "closed", at(2, 0, 30), bob)],
        first=at(2, 0, 6), csat=4)  # fmt: skip
    sd.session("default", "u-c", at(2, 9, 1), "other", [("cancel", "closed", at(2, 9, 3), None)])
    sd.session("default", "u-f", at(2, 14), "after_sales", [
        ("agent_assigned", "active", at(2, 14, 1), amy), ("agent_end", "closed", at(2, 14, 11), amy)],
        first=at(2, 14, 2), csat=5)  # fmt: skip
    sd.session("default", "u-h", at(3, 0, 0, 30), "other", [("agent_assigned", "active", at(3, 0, 1), amy)])
    sd.session("default", "u-i", at(30, 23, month=11), "other", [])
    sd.session("acme", "x", at(2, 10), "other", [("agent_assigned", "active", at(2, 10, 1), 99),
                                                 ("agent_end", "closed", at(2, 10, 2), 99)], csat=1)  # fmt: skip
    # tickets (3 = resolved, 1 = in progress)
    sd.ticket("default", "refund", amy, at(1, 12), at(1, 11), 3)  # met
    sd.ticket("default", "logistics", bob, at(2, 10), at(2, 11), 3)  # an hour late
    sd.ticket("default", "complaint", None, at(2, 8), None, 1)  # open past its deadline
    sd.ticket("default", "tech", amy, at(3, 1), None, 1)  # due after the period
    sd.ticket("default", None, None, at(1, 10), None, 3, updated=at(1, 9))  # resolved before resolved_at was kept
    sd.ticket("acme", "refund", None, at(1, 12), at(1, 11), 3)
    return Seeded(amy, bob)
