"""One call for a report, the same for the API, the CLI and the page: read the period's rows, then count."""

from __future__ import annotations

from bot.storage.db import Database
from handoff.reports import queries as q
from handoff.reports.metrics import Report, build, session_facts
from handoff.reports.periods import Period


def report(db: Database, tenant_id: str, period: Period, by: str, now: float) -> Report:
    with db.session() as s:
        conversations = q.conversation_days(s, tenant_id, period)
        rows, events = q.sessions(s, tenant_id, period)
        tickets = q.tickets(s, tenant_id, period)
        facts = [session_facts(r, events.get(r.session_id, ())) for r in rows]
        ids = {seg.agent_id for f in facts for seg in f.segments} | {t.assignee_id for t in tickets if t.assignee_id}
        names = q.agent_names(s, tenant_id, ids) if by == "agent" else {}
    return build(tenant_id, period, by, conversations, facts, tickets, now, names)
