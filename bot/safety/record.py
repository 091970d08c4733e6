"""Refused and flagged lines in the audit log (``cs_audit_log``): who, which category and rule, when, and the line
with every matched word as ＊ and PII masked — never the raw line, never the word itself.

A Core view of the table, not the ORM model (``bot.audit``): the Rasa server records too, on SQLAlchemy 1.4.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bot.ids import new_id
from bot.safety.base import Verdict, label
from bot.security import mask_pii
from bot.tenants import check_tenant

AUDIT = sa.table("cs_audit_log", sa.column("audit_id"), sa.column("tenant_id"), sa.column("actor_id"),
                 sa.column("actor_role"), sa.column("action"), sa.column("target_type"), sa.column("target_id"),
                 sa.column("detail", sa.JSON), sa.column("created_at"))  # fmt: skip
KEEP_CHARS = 200  # of the masked line: enough for a reviewer to see the context


@dataclass(frozen=True)
class Incident:
    """A line a filter refused (``safety.block``) or flagged for review (``safety.review``)."""

    tenant_id: str
    side: str  # customer | agent
    target_type: str  # conversation | handoff_session
    target_id: str
    verdict: Verdict
    actor_id: int | None = None  # the agent; customers have no platform user id (the conversation names them)
    actor_role: str = "customer"

    @property
    def action(self) -> str:
        return f"safety.{self.verdict.action}"


def audit_row(incident: Incident) -> dict[str, Any]:
    v = incident.verdict
    detail = {"side": incident.side, "decision": v.action, "category": v.category, "label": label(v.category),
              "rule": v.rule, "text": mask_pii(v.masked_text)[:KEEP_CHARS]}  # fmt: skip
    return {"audit_id": new_id(), "tenant_id": check_tenant(incident.tenant_id), "actor_id": incident.actor_id,
            "actor_role": incident.actor_role[:64], "action": incident.action, "target_type": incident.target_type,
            "target_id": incident.target_id[:128], "detail": detail,
            "created_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)}  # fmt: skip


def record(conn: Any, incident: Incident) -> None:
    """Insert the row on ``conn`` (a Connection or an ORM Session), inside the caller's transaction."""
    conn.execute(sa.insert(AUDIT).values(**audit_row(incident)))
