"""The arithmetic of period reports: pure functions over small rows (``queries`` reads them).

What is counted, and where:
* a **conversation** is one conversation's archived lines on one shop day with at least one customer line (a
  customer who comes back tomorrow counts again tomorrow, as every per-day figure must add up to the total);
  **self-served** when the bot answered in it and no handoff was requested for that conversation that day;
  **handoff rate** = conversations with a handoff request / conversations.
* a **session** (a handoff request, cs_session) belongs to the day the customer asked, even when it was taken or
  closed after midnight. **Queue wait** = asked → first taken (served sessions only; those who left the queue
  are counted as abandoned); **first response** = asked → an agent's first line; **handle time** = the time
  agents held it (taken → closed, without the waits between transfers), for closed sessions.
* per **agent**: a wait counts for the agent who took the session first, the first response for whoever held it
  then, handle time for each agent's own part, CSAT for the agent who held it last (the one the customer rated).
* **SLA compliance** = tickets resolved by their deadline / tickets due in the period (by deadline day); a ticket
  still open before its deadline is not decided yet and counts in neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from handoff.reports.periods import Period, avg, p90, ratio

BY = ("day", "agent", "category")
QUEUED, ASSIGNED = "queued", "agent_assigned"
LEAVES_AGENT = ("waiting", "closed")  # a transfer, an agent lost, or the end: the agent's part stops
CATEGORY_LABELS = {"complaint": "投诉", "after_sales": "售后", "other": "咨询", "refund": "退款", "logistics": "物流",
                   "tech": "技术", "": "未分类"}  # fmt: skip


@dataclass(frozen=True)
class ConversationDay:
    """One conversation's archived lines on one shop day (cs_message, counted without decrypting)."""

    conversation_id: str
    day: dt.date
    customer_lines: int
    bot_lines: int
    agent_lines: int = 0


@dataclass(frozen=True)
class SessionRow:
    """A cs_session row; the times are what the row keeps, the events tell the rest."""

    session_id: int
    conversation_id: str
    reason: str | None
    requested_at: float
    assigned_at: float | None
    first_response_at: float | None
    closed_at: float | None
    agent_id: int | None  # the last agent
    csat: int | None


@dataclass(frozen=True)
class EventRow:
    """A cs_session_event row; ``agent_id``: who an ``agent_assigned`` gave the session to."""

    session_id: int
    event: str
    to_state: str
    agent_id: int | None
    at: float


@dataclass(frozen=True)
class Segment:
    agent_id: int
    start: float
    end: float | None  # None: still theirs

    def holds(self, ts: float) -> bool:
        return self.start <= ts and (self.end is None or ts <= self.end)


@dataclass(frozen=True)
class SessionFacts:
    session_id: int
    conversation_id: str
    reason: str
    requested_at: float
    first_response_at: float | None
    segments: tuple[Segment, ...]
    closed: bool
    csat: int | None
    rated_agent: int | None

    @property
    def served(self) -> bool:
        return bool(self.segments)

    @property
    def abandoned(self) -> bool:
        return self.closed and not self.segments

    @property
    def wait(self) -> float | None:
        return max(0.0, self.segments[0].start - self.requested_at) if self.segments else None

    @property
    def first_response(self) -> float | None:
        if self.first_response_at is None or not self.segments:
            return None
        return max(0.0, self.first_response_at - self.requested_at)

    @property
    def responder(self) -> int | None:
        if self.first_response_at is None or not self.segments:
            return None
        at = self.first_response_at
        return next((s.agent_id for s in self.segments if s.holds(at)), self.segments[0].agent_id)

    @property
    def handle(self) -> float | None:
        if not self.closed or not self.segments or any(s.end is None for s in self.segments):
            return None
        return sum(max(0.0, (s.end or s.start) - s.start) for s in self.segments)

    def handle_by_agent(self) -> dict[int, float]:
        """Each agent's finished parts (a part handed on by a transfer is finished though the session is not)."""
        out: dict[int, float] = {}
        for s in self.segments:
            if s.end is not None:
                out[s.agent_id] = out.get(s.agent_id, 0.0) + max(0.0, s.end - s.start)
        return out


def session_facts(row: SessionRow, events: Iterable[EventRow]) -> SessionFacts:
    """Replay a session's events (in the order they happened) into its agents' parts."""
    evs = sorted(events, key=lambda e: e.at)  # stable: ties keep the query's event-id order
    requested = min([e.at for e in evs if e.event == QUEUED] or [row.requested_at])
    segments: list[Segment] = []
    holder: tuple[int, float] | None = None
    closed = row.closed_at is not None
    for e in evs:
        if holder is not None and (e.event == ASSIGNED or e.to_state in LEAVES_AGENT):
            segments.append(Segment(holder[0], holder[1], e.at))
            holder = None
        if e.event == ASSIGNED and e.agent_id is not None:
            holder = (e.agent_id, e.at)
        closed = closed or e.to_state == "closed"
    if holder is not None:
        segments.append(Segment(holder[0], holder[1], None))
    if not evs and row.assigned_at is not None and row.agent_id is not None:  # a row without its history
        segments.append(Segment(row.agent_id, row.assigned_at, row.closed_at))
    rated = row.agent_id if row.agent_id is not None else (segments[-1].agent_id if segments else None)
    return SessionFacts(row.session_id, row.conversation_id, row.reason or "", requested, row.first_response_at,
                        tuple(segments), closed, row.csat, rated)  # fmt: skip


@dataclass(frozen=True)
class TicketRow:
    ticket_id: int
    category: str | None
    assignee_id: int | None
    expired_at: float | None  # the SLA deadline
    resolved_at: float | None


def sla_met(t: TicketRow, now: float) -> bool | None:
    """True: resolved by the deadline; False: resolved late, or open past it; None: no deadline or not decided."""
    if t.expired_at is None:
        return None
    if t.resolved_at is not None:
        return t.resolved_at <= t.expired_at
    return False if now > t.expired_at else None


@dataclass(frozen=True)
class Metrics:
    conversations: int | None  # None where a figure has no meaning (per agent, per category)
    self_served: int | None
    self_service_rate: float | None
    handed_off: int | None
    handoff_rate: float | None
    sessions: int
    served: int
    abandoned: int
    wait_avg: float | None  # seconds
    wait_p90: float | None
    first_response_avg: float | None
    first_response_p90: float | None
    handle_avg: float | None
    handle_p90: float | None
    tickets_due: int
    tickets_met: int
    sla_compliance: float | None
    csat_avg: float | None
    csat_count: int


@dataclass
class Tally:
    conversations: int = 0
    self_served: int = 0
    handed_off: int = 0
    sessions: int = 0
    served: int = 0
    abandoned: int = 0
    waits: list[float] = field(default_factory=list)
    first_responses: list[float] = field(default_factory=list)
    handles: list[float] = field(default_factory=list)
    tickets_due: int = 0
    tickets_met: int = 0
    csat: list[int] = field(default_factory=list)

    def add_conversation(self, self_served: bool, handed_off: bool) -> None:
        self.conversations += 1
        self.self_served += self_served
        self.handed_off += handed_off

    def add_session(self, f: SessionFacts) -> None:
        self.sessions += 1
        self.served += f.served
        self.abandoned += f.abandoned
        _put(self.waits, f.wait)
        _put(self.first_responses, f.first_response)
        _put(self.handles, f.handle)
        if f.csat is not None:
            self.csat.append(f.csat)

    def add_ticket(self, met: bool) -> None:
        self.tickets_due += 1
        self.tickets_met += met

    def metrics(self, conversations: bool = True) -> Metrics:
        c = conversations
        return Metrics(
            conversations=self.conversations if c else None, self_served=self.self_served if c else None,
            self_service_rate=ratio(self.self_served, self.conversations) if c else None,
            handed_off=self.handed_off if c else None,
            handoff_rate=ratio(self.handed_off, self.conversations) if c else None,
            sessions=self.sessions, served=self.served, abandoned=self.abandoned,
            wait_avg=avg(self.waits), wait_p90=p90(self.waits),
            first_response_avg=avg(self.first_responses), first_response_p90=p90(self.first_responses),
            handle_avg=avg(self.handles), handle_p90=p90(self.handles),
            tickets_due=self.tickets_due, tickets_met=self.tickets_met,
            sla_compliance=ratio(self.tickets_met, self.tickets_due),
            csat_avg=avg([float(x) for x in self.csat]) if self.csat else None, csat_count=len(self.csat),
        )  # fmt: skip


def _put(values: list[float], value: float | None) -> None:
    if value is not None:
        values.append(value)


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    metrics: Metrics

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **asdict(self.metrics)}


@dataclass(frozen=True)
class Report:
    tenant: str
    by: str
    period: Period
    rows: tuple[Row, ...]
    total: Metrics

    def to_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "by": self.by, "from": self.period.first.isoformat(),
                "to": self.period.last.isoformat(), "timezone": self.period.timezone,
                "total": asdict(self.total), "rows": [r.to_json() for r in self.rows]}  # fmt: skip


def build(tenant: str, period: Period, by: str, conversations: Iterable[ConversationDay],
          sessions: Iterable[SessionFacts], tickets: Iterable[TicketRow], now: float,
          names: dict[int, str] | None = None) -> Report:  # fmt: skip
    """The report of ``period`` grouped ``by`` day, agent or category, with the period's total."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    names = names or {}
    total = Tally()
    # every day of the period has its row, an empty one too: charts need the gaps
    groups: dict[str, Tally] = {d.isoformat(): Tally() for d in period.days} if by == "day" else {}

    def tally(key: str) -> Tally:
        return groups.setdefault(key, Tally())

    own = [f for f in sessions if period.holds(f.requested_at)]
    handed = {(f.conversation_id, period.day_of(f.requested_at)) for f in own}
    for c in conversations:
        if c.customer_lines <= 0 or not period.first <= c.day <= period.last:
            continue
        handed_off = (c.conversation_id, c.day) in handed
        total.add_conversation(c.bot_lines > 0 and not handed_off, handed_off)
        if by == "day":
            tally(c.day.isoformat()).add_conversation(c.bot_lines > 0 and not handed_off, handed_off)

    for f in own:
        total.add_session(f)
        if by == "day":
            tally(period.day_of(f.requested_at).isoformat()).add_session(f)
        elif by == "category":
            tally(f.reason).add_session(f)
        else:
            _add_agent_parts(tally, f)

    for t in tickets:
        met = sla_met(t, now)
        if met is None or t.expired_at is None or not period.holds(t.expired_at):
            continue
        total.add_ticket(met)
        if by == "day":
            tally(period.day_of(t.expired_at).isoformat()).add_ticket(met)
        else:
            tally((t.category or "") if by == "category" else str(t.assignee_id or "")).add_ticket(met)

    rows = tuple(Row(k, _label(by, k, names), groups[k].metrics(by == "day")) for k in _order(by, groups, names))
    return Report(tenant, by, period, rows, total.metrics())


def _add_agent_parts(tally: Callable[[str], Tally], f: SessionFacts) -> None:
    agents = {s.agent_id for s in f.segments}
    for agent in agents:
        t = tally(str(agent))
        t.sessions += 1
        t.served += 1
    if f.segments:
        _put(tally(str(f.segments[0].agent_id)).waits, f.wait)
    if f.responder is not None:
        _put(tally(str(f.responder)).first_responses, f.first_response)
    for agent, seconds in f.handle_by_agent().items():
        tally(str(agent)).handles.append(seconds)
    if f.csat is not None and f.rated_agent is not None:
        tally(str(f.rated_agent)).csat.append(f.csat)


def _label(by: str, key: str, names: dict[int, str]) -> str:
    if by == "day":
        return key
    if by == "category":
        return CATEGORY_LABELS.get(key, key)
    if not key:
        return "未分配"
    return names.get(int(key)) or f"#{key}"


def _order(by: str, groups: dict[str, Tally], names: dict[int, str]) -> list[str]:
    if by == "day":
        return sorted(groups)
    if by == "category":
        known = list(CATEGORY_LABELS)
        return sorted(groups, key=lambda k: (known.index(k) if k in known else len(known), k))
    return sorted(groups, key=lambda k: (not k, _label(by, k, names), k))
