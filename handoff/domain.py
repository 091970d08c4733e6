"""Plain values the handoff modules pass around (never ORM rows), and the lines customers read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.storage.models import Session
from handoff.states import State

# cs_session.session_state (seed: 0=排队 1=进行中 2=已结束; 3=提醒 added here)
STATE_CODE = {State.WAITING: Session.QUEUED, State.ACTIVE: Session.ACTIVE, State.WARNING: Session.WARNING,
              State.CLOSED: Session.CLOSED}  # fmt: skip
CODE_STATE = {v: k for k, v in STATE_CODE.items()}
OPEN_CODES = (Session.QUEUED, Session.ACTIVE, Session.WARNING)


@dataclass(frozen=True)
class Attachment:
    """A file in a message: a signed link of ours (``bot.files``), already checked by whoever built this."""

    url: str
    name: str
    content_type: str

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    def message_fields(self) -> dict[str, Any]:
        """How a message carries it: an image as ``image_url`` (what every page shows), other files as ``file``."""
        if self.is_image:
            return {"image_url": self.url}
        return {"file": {"url": self.url, "name": self.name, "content_type": self.content_type}}


@dataclass(frozen=True)
class SessionView:
    session_id: int
    tenant_id: str
    conversation_id: str
    channel: str
    customer_ref: str
    customer_name: str
    state: State
    agent_id: int | None
    group: str
    reason: str
    tags: tuple[str, ...]
    priority: int
    queued_at: float | None
    assigned_at: float | None
    first_response_at: float | None
    last_customer_at: float | None
    target_agent_id: int | None
    transfer_note: str | None
    summary: str | None
    csat: int | None

    def to_json(self) -> dict[str, Any]:
        return {"id": str(self.session_id), "conversation_id": self.conversation_id, "channel": self.channel,
                "customer": {"id": self.customer_ref, "name": self.customer_name, "tags": list(self.tags)},
                "state": self.state.value, "agent_id": str(self.agent_id) if self.agent_id else None,
                "group": self.group, "reason": self.reason, "priority": self.priority, "queued_at": self.queued_at,
                "assigned_at": self.assigned_at, "first_response_at": self.first_response_at,
                "transfer_note": self.transfer_note, "summary": self.summary, "csat": self.csat}  # fmt: skip


def view(s: Session) -> SessionView:
    return SessionView(s.session_id, s.tenant_id, s.conversation_id or "", s.channel or "", s.customer_ref or "",
                       s.customer_name or "", CODE_STATE[s.session_state], s.agent_id, s.skill_group or "",
                       s.reason or "other", tuple(t for t in (s.tags or "").split(",") if t), s.priority,
                       s.queued_at, s.assigned_at, s.first_response_at, s.last_customer_at, s.target_agent_id,
                       s.transfer_note, s.summary, s.csat)  # fmt: skip


@dataclass(frozen=True)
class QueueTicket:
    """What the customer is told when they ask for a person."""

    session_id: int | None
    position: int  # 1 = next; 0 when not queued
    eta_seconds: float | None
    on_duty: bool
    already_waiting: bool = False
    active_agent: str = ""  # already with an agent
    closed_because: str = ""  # not on duty: off_hours | no_agents

    def to_json(self) -> dict[str, Any]:
        return {"session_id": str(self.session_id) if self.session_id else None, "position": self.position,
                "eta_seconds": self.eta_seconds, "on_duty": self.on_duty, "already_waiting": self.already_waiting,
                "active_agent": self.active_agent, "closed_because": self.closed_because}  # fmt: skip


@dataclass(frozen=True)
class CustomerRef:
    tenant_id: str
    conversation_id: str
    channel: str
    customer_id: str  # the shop's id, or the visitor's conversation id
    name: str = ""
    tags: tuple[str, ...] = ()


# --- what customers read -------------------------------------------------------------------------
def minutes(seconds: float | None) -> str:
    return "1" if not seconds else str(max(1, round(seconds / 60)))


QUEUED = ("已为您转接人工客服，前面还有 {ahead} 位，预计等待约 {minutes} 分钟～ 排队时发的消息，客服接入后都能看到；"
          "说「不用了」可以取消排队。")
STILL_WAITING = "还在为您排队哦，前面还有 {ahead} 位，请稍等～"
ASSIGNED = "您好，我是{name}，很高兴为您服务～ 您前面说的问题我都看到了。"
REMIND = "您还在吗？一会儿没收到回复的话，本次人工服务会自动结束哦～"
AUTO_ENDED = "由于一段时间没有收到您的消息，本次人工服务先结束啦。有问题随时再找我～"
CLOSED = "本次人工服务已结束，感谢您的耐心～ 后面有问题直接问我就好。"
CSAT = "麻烦为本次服务打个分吧（5 分最满意）："
CANCELLED = "好的，已为您取消排队。还有问题可以直接问我～"
TRANSFERRED = "正在为您转接{target}，请稍候～"
AGENT_LEFT = "刚才的客服暂时离开了，正在为您转接其他客服，请稍候～"
OFF_DUTY = "现在不在人工客服的服务时间（每天 {hours}），您可以把问题留言给我，客服上班后会第一时间联系您～"
NO_AGENTS = "非常抱歉，人工客服暂时都不在线😣 没法马上为您转接。您可以把问题留言给我，客服上线后会第一时间联系您～"
TOO_LONG = "非常抱歉，现在咨询的人比较多，一时排不到人工客服。您可以把问题留言给我，我们会尽快联系您～"
