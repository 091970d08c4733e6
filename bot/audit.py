"""The audit log (seed §2.5.8, §6): who changed what, for every service. One row per change, written in
the same transaction as the change, so a change is never without its record nor a record without it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.ids import new_id
from bot.security import Principal
from bot.storage.models import AuditLog
from bot.tenants import check_tenant


def audit(s: Session, tenant_id: str, action: str, target_type: str, target_id: str | None,
          detail: dict[str, Any] | None = None, actor_id: int | None = None, actor_role: str | None = None) -> None:
    s.add(AuditLog(audit_id=new_id(), tenant_id=check_tenant(tenant_id), actor_id=actor_id, actor_role=actor_role,
                   action=action, target_type=target_type, target_id=target_id, detail=detail))  # fmt: skip


def audit_by(s: Session, who: Principal, action: str, target_type: str, target_id: str | None,
             detail: dict[str, Any] | None = None) -> None:  # fmt: skip
    audit(s, who.tenant_id, action, target_type, target_id, detail, who.user_id, ",".join(sorted(who.roles)))
