"""The agent side (``handoff.service.send``): a refused line is a 422 with the reason, nothing stored or
delivered; refusals and review flags are audited under the agent's id and the handoff session."""

from __future__ import annotations

from bot.errors import ContentBlocked
from bot.safety.base import Verdict
from bot.safety.record import Incident
from bot.security import Principal

REFUSED = "消息未发送：含有不适宜的内容（{label}，规则 {rule}），请修改后再发"


def agent_incident(who: Principal, session_id: int, verdict: Verdict) -> Incident:
    return Incident(who.tenant_id, "agent", "handoff_session", str(session_id), verdict, who.user_id,
                    ",".join(sorted(who.roles)))  # fmt: skip


def refusal(verdict: Verdict) -> ContentBlocked:
    return ContentBlocked(REFUSED.format(label=verdict.label or "未分类", rule=verdict.rule or "-"))
