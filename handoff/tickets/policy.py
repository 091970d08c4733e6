"""Pure ticket policies: category of a left message, priority of an automatic ticket, deadlines, escalation,
ticket numbers, and the lines customers read."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from handoff.tickets.config import TicketsConfig

CATEGORIES = {"refund": "退款/退货", "logistics": "物流", "complaint": "投诉", "tech": "技术问题"}
SOURCES = {"agent": "客服创建", "left_message": "客户留言", "queue_timeout": "排队超时",
           "complaint": "投诉未处理", "undelivered": "消息未送达", "bot_failure": "机器人多次未解答"}  # fmt: skip
# first match wins: a complaint about a refund is handled as a complaint (who is upset comes first)
_WORDS = (
    ("complaint", re.compile(r"投诉|差评|举报|12315|消协|工商|曝光|律师|起诉|骗子|态度|太差|气死|领导|经理")),
    ("refund", re.compile(r"退款|退货|退钱|换货|退换|售后|质量|坏了|破损|少发|错发|发错|价保|补差")),
    ("logistics", re.compile(r"物流|快递|发货|到货|配送|派送|签收|运单|包裹|没收到|丢件|地址|送到")),
    ("tech", re.compile(r"登录|登陆|密码|验证码|闪退|打不开|报错|卡住|页面|支付失败|付不了|扫码|app|APP|小程序|bug")),
)
# what the handoff calls a request's reason (handoff.policy.reason_of) → a ticket category
_REASONS = {"complaint": "complaint", "after_sales": "refund"}


def categorize(text: str, reason: str | None = None) -> str | None:
    """The category of what the customer wrote; None when nothing says (an agent sets it)."""
    for category, words in _WORDS:
        if words.search(text or ""):
            return category
    return _REASONS.get(reason or "")


def priority_of(category: str | None, vip: bool = False) -> int:
    """Complaints are high (2), everything else normal (3); a VIP's ticket one step higher."""
    base = 2 if category == "complaint" else 3
    return max(1, base - 1) if vip else base


def deadline(start: dt.datetime, priority: int, cfg: TicketsConfig) -> dt.datetime:
    return start + dt.timedelta(minutes=cfg.sla(priority))


def escalated(priority: int) -> int:
    """One step more urgent; 紧急 (1) stays 1 (its next breach still reaches the supervisors)."""
    return max(1, priority - 1)


def day_code(now: dt.datetime, cfg: TicketsConfig) -> str:
    """``now`` (naive UTC) as the local day of a ticket number: T + 260101."""
    local = now.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(cfg.timezone))
    return f"{cfg.number_prefix}{local:%y%m%d}"


def ticket_no(day: str, n: int) -> str:
    return f"{day}{n:04d}"


def sequence_of(number: str, day: str) -> int:
    tail = number[len(day):] if number.startswith(day) else ""
    return int(tail) if tail.isdigit() else 0


def minutes_text(minutes: int) -> str:
    if minutes % (60 * 24) == 0:
        return f"{minutes // (60 * 24)} 天"
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60} 小时"
    return f"{minutes} 分钟"


# --- what customers read ---------------------------------------------------------------------------
CREATED = "已为您登记工单，工单号 {no}。客服会在 {within}内处理并联系您，您也可以随时凭工单号询问进度～"
CREATED_FROM_MESSAGE = "您的留言已登记为工单，工单号 {no}。客服会在 {within}内处理并联系您～"
CREATED_FROM_FAILURES = "您刚才的问题已登记为工单，工单号 {no}。客服会在 {within}内处理并联系您～"
WAITING_CUSTOMER = "关于工单 {no}，客服需要您补充一些信息：{note}"
RESOLVED = "您的工单 {no} 已处理完成～{note}如果问题还没解决，直接回复我就好。"


def resolved_line(no: str, note: str) -> str:
    note = note.strip().rstrip("。.!！~～ ")
    return RESOLVED.format(no=no, note=f"处理结果：{note[:300]}。" if note else "")
