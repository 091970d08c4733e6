"""What the search API and the CLI share: who may find what, request parameters → ``MessageQuery``, and
opening an archived conversation (decrypted from ``cs_message``).

Who sees what: a supervisor (or admin) searches and opens every conversation of their tenant. A plain agent
finds only the conversations they handled (a handoff session assigned to them) and the lines they wrote —
the same rule as the inbox, where another agent's session is refused. Message search is an audit and
follow-up tool; an agent who needs a colleague's conversation asks a supervisor, so the archive does not
become a way around the inbox's own access rule. The tenant always comes from the caller's token.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.crypto import Cipher, SealError
from bot.errors import Forbidden, InvalidInput, NotFound
from bot.security import Principal
from bot.storage.db import Database
from bot.storage.models import Message, Session, User
from handoff.search import MessageIndex, MessageQuery, Scope, SearchPage

ROLE_OF = {Message.FROM_USER: "customer", Message.FROM_AGENT: "agent", Message.FROM_BOT: "bot"}
MAX_SCOPE = 5000  # an agent's most recent conversations a search covers
MAX_LINES = 2000


def _when(value: str, name: str, tz: ZoneInfo, end: bool) -> float:
    """``2026-12-01`` (a whole day in the shop's time zone; ``to`` includes it), an ISO time, or epoch seconds."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), tz)
            return start.timestamp()
        moment = dt.datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()
    except ValueError:
        raise InvalidInput(f"{name} must be a date (2026-12-01), an ISO time or epoch seconds") from None


def _int(value: str | None, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    if not value.isdigit():
        raise InvalidInput(f"{name} must be a whole number")
    return int(value)


def query_from(params: Mapping[str, str], timezone: str = "Asia/Shanghai", agent_id: int | None = None) -> MessageQuery:
    """A query from request (or CLI) parameters: q, customer, role, from, to, conversation, limit, offset. The
    agent filter arrives resolved (``agent_id``): the caller turns a login into an id in its tenant."""
    tz = ZoneInfo(timezone)
    since = _when(params["from"], "from", tz, end=False) if params.get("from") else None
    until = _when(params["to"], "to", tz, end=True) if params.get("to") else None
    words = params.get("q") or ""
    if len(words) > 200:
        raise InvalidInput("q has at most 200 characters")
    try:
        return MessageQuery(words=words, customer=params.get("customer") or None, agent_id=agent_id,
                            role=params.get("role") or None, since=since, until=until,
                            conversation_id=params.get("conversation") or None,
                            limit=_int(params.get("limit"), "limit", 20),
                            offset=_int(params.get("offset"), "offset", 0))  # fmt: skip
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _supervises(who: Principal) -> bool:
    return bool({"supervisor", "admin"} & who.roles)


@dataclass
class MessageSearch:
    index: MessageIndex
    db: Database
    cipher: Cipher

    def agent_id(self, tenant: str, agent: str | None) -> int | None:
        """An agent filter given as a user id or a login, within ``tenant``."""
        if not agent:
            return None
        with self.db.session() as db:
            cond = User.user_id == int(agent) if agent.isdigit() else User.external_id == agent
            found = db.scalar(select(User.user_id).where(User.tenant_id == tenant, cond))
        if found is None:
            raise InvalidInput(f"no agent {agent!r}")
        return int(found)

    def scope_of(self, who: Principal) -> Scope | None:
        if _supervises(who):
            return None
        with self.db.session() as db:
            rows = db.scalars(select(Session.conversation_id).where(
                Session.tenant_id == who.tenant_id, Session.agent_id == who.user_id,
                Session.conversation_id.is_not(None)).order_by(Session.created_at.desc()).limit(MAX_SCOPE))  # fmt: skip
            return Scope(frozenset(c for c in rows if c), who.user_id)

    def search(self, who: Principal, query: MessageQuery) -> SearchPage:
        from dataclasses import replace

        return self.index.search(who.tenant_id, replace(query, scope=self.scope_of(who)))

    def _may_open(self, db: Any, who: Principal, conversation_id: str) -> bool:
        if _supervises(who):
            return True
        mine = db.scalar(select(Session.session_id).where(
            Session.tenant_id == who.tenant_id, Session.conversation_id == conversation_id,
            Session.agent_id == who.user_id).limit(1))  # fmt: skip
        if mine is not None:
            return True
        wrote = db.scalar(select(Message.msg_id).where(
            Message.tenant_id == who.tenant_id, Message.conversation_id == conversation_id,
            Message.sender_role == Message.FROM_AGENT, Message.sender_id == who.user_id).limit(1))  # fmt: skip
        return wrote is not None

    def archive(self, who: Principal, conversation_id: str, limit: int = 500, offset: int = 0) -> dict[str, Any]:
        """The conversation's archived lines in order, decrypted: 404 when the caller's tenant has none (another
        tenant's conversation looks exactly like an unknown one), 403 for a colleague's conversation."""
        if not 1 <= limit <= MAX_LINES:
            raise InvalidInput(f"limit must be 1..{MAX_LINES}")
        with self.db.session() as db:
            base = select(Message).where(Message.tenant_id == who.tenant_id,
                                         Message.conversation_id == conversation_id)  # fmt: skip
            if db.scalar(base.with_only_columns(Message.msg_id).limit(1)) is None:
                raise NotFound(f"no archived conversation {conversation_id!r}")
            if not self._may_open(db, who, conversation_id):
                raise Forbidden("this conversation was handled by another agent")
            rows = db.scalars(base.order_by(Message.created_at, Message.msg_id).offset(offset).limit(limit)).all()
            return {"conversation_id": conversation_id, "lines": [self._line(m) for m in rows]}

    def _line(self, m: Message) -> dict[str, Any]:
        line: dict[str, Any] = {"msg_id": str(m.msg_id), "role": ROLE_OF.get(m.sender_role or 0, "customer"),
                                "at": m.created_at.replace(tzinfo=dt.UTC).timestamp(), "channel": m.channel,
                                "customer": m.customer_ref}  # fmt: skip
        if m.sender_role == Message.FROM_AGENT and m.sender_id:
            line["agent_id"] = str(m.sender_id)
        try:
            body = json.loads(self.cipher.open(m.key_id, m.content, f"{m.tenant_id}:{m.msg_id}".encode()))
        except (SealError, ValueError):  # one unreadable row (a key removed too early) must not hide the rest
            return {**line, "text": "", "error": "sealed body does not open"}
        if isinstance(body, dict):
            line.update({k: body[k] for k in ("text", "image", "file", "intent") if body.get(k) is not None})
        return line
