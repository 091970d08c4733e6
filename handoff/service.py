"""The handoff service layer: the same calls for the HTTP/WebSocket handlers, the CLI and the tests.

Each call is one database transaction that applies ``handoff.states.step`` as a compare-and-set; what the
customer and the agents must hear is collected while it runs and delivered after the commit (the customer
through ``CustomerChannel``, i.e. Rasa; agents through their feed rows, woken by ``notify``). Assignment,
offers and timeouts live in ``handoff.assignment``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select

from bot.errors import Forbidden, InvalidInput, NotFound
from bot.ids import new_id
from bot.safety import REVIEW, ContentFilter, Verdict, default_filter
from bot.safety.agent import agent_incident, refusal
from bot.safety.record import record
from bot.security import Principal
from bot.storage.db import Database, retry_transient
from bot.storage.models import Session, User
from handoff import domain as d
from handoff import redelivery
from handoff import repository as repo
from handoff.config import HandoffConfig
from handoff.live import REWARM_SECONDS, LiveSession, LiveSessions
from handoff.live.memory import MemoryLiveSessions
from handoff.models import HandoffLine, LeftMessage
from handoff.outbox import Line, Outbox
from handoff.policy import expected_wait, priority, rank
from handoff.presence import PresenceStore
from handoff.quota import RATIONED
from handoff.states import Event, IllegalTransition, State, step

log = logging.getLogger(__name__)
MAX_TEXT = 2000
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CLIENT_ID_LOOKBACK = 50  # an inbox resends a line within seconds: the agent's last lines of the session suffice
# WeChat refuses lines 48 h after the customer last wrote, or past 5 lines (45015/45047); other channels rarely fail
UNDELIVERED = ("这条消息没有送达客户（微信客户超过 48 小时未发言或已达 5 条上限时会这样），"
               "请等客户回复后再发，或改用短信跟进")
CANCEL_INTENTS = ("deny", "stop", "cancel_handoff")
CANCEL_WORDS = ("不用了", "取消排队", "不排了", "算了")


class CustomerChannel(Protocol):
    """How the service reaches the customer: Rasa's tracker and the channel they used (``handoff.relay``)."""

    def say(self, conversation_id: str, text: str, buttons: list[dict[str, str]] | None = None,
            agent: dict[str, Any] | None = None, image: str | None = None,
            custom: dict[str, Any] | None = None, line_id: str | None = None,
            again: bool = False) -> None: ...  # fmt: skip

    def resume(self, conversation_id: str) -> None: ...

    def trigger(self, conversation_id: str, intent: str) -> None: ...


@dataclass
class Effects:
    """What to tell whom once the transaction has committed."""

    customer: list[tuple[str, str, Any]] = field(default_factory=list)  # (kind, conversation id, args)
    agents: set[tuple[str, int | None]] = field(default_factory=set)  # (tenant, agent id or None = supervisors)
    live: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (session id, fields; {} = closed)


class HandoffService:
    def __init__(self, db: Database, presence: PresenceStore, config: HandoffConfig, customer: CustomerChannel,
                 notify: Callable[[set[tuple[str, int | None]]], None] = lambda who: None,
                 clock: Callable[[], float] = time.time, live: LiveSessions | None = None,
                 safety: ContentFilter | None = None) -> None:  # fmt: skip
        self.db, self.presence, self.cfg, self.customer, self.notify, self.clock = (
            db, presence, config, customer, notify, clock)  # fmt: skip
        self.safety = safety or default_filter()  # agents' lines (bot.safety); the app passes the configured one
        self.live: LiveSessions = live or MemoryLiveSessions()
        self.outbox = Outbox(self._say_line)  # rationed channels: quick lines merged (handoff.outbox)
        self.live_warmed_at = 0.0
        self._last_position_line: dict[int, float] = {}
        self._staff: dict[str, tuple[float, list[Any]]] = {}
        self.last_full_pass: dict[str, float] = {}  # tenant → when the clock last ran a whole assignment pass
        self.told_position: dict[int, tuple[int, float]] = {}  # session → (place last told, when)

    STAFF_SECONDS = 5.0  # accounts change rarely (csbot agents set): every assignment pass needn't reload them

    def staff(self, db: Any, tenant_id: str, online: set[int] | None = None) -> list[Any]:
        """The tenant's agents and supervisors (detached rows), cached for a few seconds, and reloaded at once
        when someone online is not in it (a new account's first heartbeat)."""
        now = time.monotonic()
        hit = self._staff.get(tenant_id)
        stale = hit is None or now - hit[0] > self.STAFF_SECONDS
        if not stale and online and not online <= {u.user_id for u in hit[1]}:  # type: ignore[index]
            stale = True
        if stale:
            rows = repo.staff(db, tenant_id)
            for u in rows:
                db.expunge(u)
            hit = self._staff[tenant_id] = (now, rows)
        return hit[1]

    def staff_name(self, tenant_id: str, agent_id: int | None) -> str:
        with self.db.session() as db:
            return next((u.nick_name or "" for u in self.staff(db, tenant_id) if u.user_id == agent_id), "")

    # --- live state (handoff.live) -------------------------------------------------------------------
    def maintain_live(self, every: float = REWARM_SECONDS) -> None:
        """Rebuild the live store from the database when it cannot vouch for "no session" (a start, Redis
        restarted), and re-put every open session now and then so none outlives its TTL."""
        now = time.monotonic()
        if self.live.is_warm() and now - self.live_warmed_at < every:
            return
        with self.db.session() as db:
            rows = db.scalars(select(Session).where(Session.session_state.in_(d.OPEN_CODES)))
            self.live.warm([self._live_of(s) for s in rows])
        self.live_warmed_at = now

    @staticmethod
    def _live_of(s: Session, queue_pos: int | None = None) -> LiveSession:
        return LiveSession(s.session_id, s.tenant_id, s.conversation_id or "", d.CODE_STATE[s.session_state].value,
                           s.agent_id, queue_pos, float(s.last_customer_at or s.queued_at or 0.0))  # fmt: skip

    def _open(self, db: Any, tenant_id: str, conversation_id: str) -> Session | None:
        """The conversation's open session; no query when the live store knows there is none."""
        hint = self.live.lookup(tenant_id, conversation_id)
        if hint.known and hint.session_id is None:
            return None
        return repo.open_session(db, tenant_id, conversation_id)

    # --- delivery after commit -----------------------------------------------------------------------
    def deliver(self, fx: Effects) -> list[tuple[str, str]]:
        """Tell the customers and wake the agents; returns the (kind, conversation) deliveries that failed."""
        failed: list[tuple[str, str]] = []
        if fx.live:
            try:
                changes: dict[int, dict[str, Any]] = {}
                for session_id, fields in fx.live:
                    if fields.get("closed"):  # removed only now, after the commit: a "no" is never early
                        self.live.closed(fields["tenant"], fields["conversation"], session_id)
                        changes.pop(session_id, None)
                    else:
                        changes.setdefault(session_id, {}).update(fields)
                self.live.update(changes)
            except Exception:  # a stale entry is a hint only (the database decides); never fail the call
                log.warning("live sessions not updated", exc_info=True)
        for kind, conv, args in fx.customer:
            try:
                if kind == "say":
                    self.customer.say(conv, *args)
                elif kind == "resume":
                    self.customer.resume(conv)
                elif kind == "trigger":
                    self.customer.trigger(conv, args)
            except Exception:  # the state is committed; a customer line that could not be delivered is logged
                log.exception("could not reach conversation %s (%s)", conv, kind)
                failed.append((kind, conv))
        if fx.agents:
            self.notify(fx.agents)
        return failed

    def _feed(self, db: Any, fx: Effects, s: Session, kind: str, payload: dict[str, Any],
              agents: set[int | None]) -> None:  # fmt: skip
        now = self.clock()
        for agent in agents:
            repo.feed(db, s.tenant_id, agent, kind, s.session_id, {"session_id": str(s.session_id), **payload}, now)
            fx.agents.add((s.tenant_id, agent))

    # --- the customer asks for a person --------------------------------------------------------------
    @retry_transient
    def request(self, ref: d.CustomerRef, reason: str, group: str | None = None) -> d.QueueTicket:
        now, fx = self.clock(), Effects()
        group = group or self.cfg.default_group
        with self.db.session() as db:
            s = repo.open_session(db, ref.tenant_id, ref.conversation_id)
            if s is not None:  # a second 转人工: where they are, nothing new
                if s.session_state != d.STATE_CODE[State.WAITING]:
                    return d.QueueTicket(s.session_id, 0, None, True, True, self._agent_name(db, s.agent_id))
                pos = repo.position(db, s)
                return d.QueueTicket(s.session_id, pos, self._eta(ref.tenant_id, pos), True, already_waiting=True)
            if not self.cfg.on_duty(now):
                return d.QueueTicket(None, 0, None, False, closed_because="off_hours")
            online = self.presence.online(ref.tenant_id, now)
            staff = {u.user_id for u in self.staff(db, ref.tenant_id, online)}
            if not online & staff:
                return d.QueueTicket(None, 0, None, False, closed_because="no_agents")
            prio = priority(reason, ref.tags)
            s = Session(session_id=new_id(), tenant_id=ref.tenant_id, customer_id=repo.customer_user(db, ref),
                        conversation_id=ref.conversation_id, channel=ref.channel[:32], customer_ref=ref.customer_id,
                        customer_name=ref.name[:64] or None, reason=reason, tags=",".join(ref.tags) or None,
                        skill_group=group, priority=prio, queue_rank=rank(now, prio, self.cfg.age_step_seconds),
                        queued_at=now, last_customer_at=now, session_state=d.STATE_CODE[State.WAITING])  # fmt: skip
            db.add(s)
            db.flush()
            repo.record_event(db, s, "queued", None, State.WAITING.value, now,
                              detail={"reason": reason, "group": group})
            pos = repo.position(db, s)
            self.live.open(self._live_of(s, pos))  # before the commit: if the store is away, nothing is opened
            self._feed(db, fx, s, "queue", {"event": "queued", "session": d.view(s).to_json()}, {None})
            ticket = d.QueueTicket(s.session_id, pos, self._eta(ref.tenant_id, pos), True)
        self.deliver(fx)
        self._last_position_line[ticket.session_id or 0] = now
        if ticket.session_id:
            self.told_position[ticket.session_id] = (ticket.position, now)
        self.offer_now(ref.tenant_id)
        return ticket

    def offer_now(self, tenant_id: str) -> None:
        """Offer what waits at once (a queued session, a freed agent), not at the next tick."""
        from handoff.assignment import assign_pass

        try:
            assign_pass(self, tenant_id)
        except Exception:  # the tick will try again within a second
            log.exception("assignment pass failed")

    def _eta(self, tenant_id: str, pos: int) -> float | None:
        return expected_wait(pos, len(self.presence.online(tenant_id, self.clock())), self.cfg.mean_handle_seconds)

    @staticmethod
    def _agent_name(db: Any, agent_id: int | None) -> str:
        u = db.get(User, agent_id) if agent_id else None
        return u.nick_name if u is not None else ""

    # --- what the customer says while a person is (about to be) in charge ----------------------------
    @retry_transient
    def customer_said(self, tenant_id: str, conversation_id: str, text: str, intent: str | None,
                      at: float | None = None, file: d.Attachment | None = None) -> bool:  # fmt: skip
        """A customer message from the Rasa conversation (text, or a file they sent with the ``/send_file``
        payload as its text); False when no handoff session is open for it."""
        now, fx = at or self.clock(), Effects()
        text = text.strip()[:MAX_TEXT]
        if file is not None and text.startswith("/"):
            text = ""
        with self.db.session() as db:
            s = self._open(db, tenant_id, conversation_id)
            if s is None:
                return False
            state = d.CODE_STATE[s.session_state]
            if state is State.WAITING and (intent in CANCEL_INTENTS or any(w in text for w in CANCEL_WORDS)):
                self._transition(db, fx, s, Event.CANCEL, now, None, {"text": text})
                fx.customer.append(("say", conversation_id, (d.CANCELLED,)))
                fx.customer.append(("resume", conversation_id, None))
            elif at is not None and self._heard_before(db, s.session_id, at):
                return True  # the broker sent it again (its answer was lost): one line, not two
            else:
                extra = {**(file.message_fields() if file else {}), **({"at": at} if at is not None else {})}
                msg = self._store_message(db, s, HandoffLine.FROM_USER, s.customer_id, text, now, extra or None)
                if state is State.WARNING:
                    self._transition(db, fx, s, Event.CUSTOMER_SPOKE, now)
                s.last_customer_at = now
                s.customer_seen_at = max(s.customer_seen_at or 0.0, now)  # who writes has read what came before
                s.last_msg_time = d_utc(now)
                fx.live.append((s.session_id, {"last_msg_ts": now}))
                agents = {s.agent_id} if s.agent_id else {None}
                self._feed(db, fx, s, "message", msg, agents)
                if state is State.WAITING and intent == "request_human" and self._may_tell_position(s, now):
                    fx.customer.append(("say", conversation_id,
                                        (d.STILL_WAITING.format(ahead=repo.position(db, s) - 1),)))  # fmt: skip
        self.deliver(fx)
        return True

    @staticmethod
    def _heard_before(db: Any, session_id: int, at: float) -> bool:
        """A customer line with this tracker timestamp is stored already (Rasa stamps each user event)."""
        rows = db.execute(select(HandoffLine).where(
            HandoffLine.session_id == session_id, HandoffLine.sender_role == HandoffLine.FROM_USER,
            HandoffLine.created_at >= d_utc(at - 2)).limit(50)).scalars().all()  # fmt: skip
        return any(line_body(m).get("at") == at for m in rows)

    def _may_tell_position(self, s: Session, now: float) -> bool:
        last = self._last_position_line.get(s.session_id, 0.0)
        if now - last < self.cfg.position_update_seconds:
            return False
        self._last_position_line[s.session_id] = now
        return True

    def _store_message(self, db: Any, s: Session, role: int, sender: int, text: str, now: float,
                       extra: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        import json

        msg_id = new_id()
        body = {"text": text, **(extra or {})}
        db.add(HandoffLine(msg_id=msg_id, session_id=s.session_id, tenant_id=s.tenant_id, sender_id=sender,
                       sender_role=role, msg_type=1 if "image_url" in body else 2 if "file" in body else 0,
                       content=json.dumps(body, ensure_ascii=False), created_at=d_utc(now)))  # fmt: skip
        who = {HandoffLine.FROM_USER: "customer", HandoffLine.FROM_AGENT: "agent", HandoffLine.FROM_BOT: "bot"}[role]
        return {"message": {"id": str(msg_id), "from": who, "sender_id": str(sender), "at": now, **body}}

    # --- agents --------------------------------------------------------------------------------------
    def session_for(self, who: Principal, session_id: int, write: bool = True) -> d.SessionView:
        with self.db.session() as db:
            return d.view(self._mine(db, who, session_id, write))

    def _mine(self, db: Any, who: Principal, session_id: int, write: bool, lock: bool = False) -> Session:
        """The session if ``who`` may see (and, with ``write``, act on) it: 404 for another tenant's or an
        unknown one, 403 for another agent's. Supervisors may act on every session of their tenant."""
        s = repo.get_session(db, who.tenant_id, session_id, lock=lock)
        if s is None:
            raise NotFound(f"no session {session_id}")
        if "supervisor" in who.roles or "admin" in who.roles:
            return s
        waiting_in_my_groups = s.session_state == d.STATE_CODE[State.WAITING] and not write
        if s.agent_id != who.user_id and not waiting_in_my_groups:
            raise Forbidden("this session belongs to another agent")
        return s

    @retry_transient
    def send(self, who: Principal, session_id: int, text: str = "", image_url: str = "",
             file: d.Attachment | None = None, client_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        """An agent's line: text, an image URL, or a file they uploaded (``bot.files``, checked by the caller).

        ``client_id``: the inbox's own id for the line. Sent again (the answer was lost: the instance died, the
        network dropped), the line already stored is delivered once more if it has to be and returned, never
        stored twice (the relay checks the customer's conversation before it repeats a line)."""
        if client_id is not None and not CLIENT_ID_RE.match(client_id):
            raise InvalidInput("client_id must be 8-64 letters, digits, _ or -")
        if client_id and (known := self._sent_before(who, session_id, client_id)) is not None:
            return known
        text = (text or "").strip()
        if not text and not image_url and file is None:
            raise InvalidInput("a message needs text, an image_url or a file")
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"a message has at most {MAX_TEXT} characters")
        if image_url and not image_url.startswith(("https://", "http://")):
            raise InvalidInput("image_url must be an http(s) URL")
        if file is not None and file.is_image:
            image_url, file = file.url, None  # an image is shown as one wherever a URL image is
        verdict = self.safety.check(text, who.tenant_id) if text else None
        if verdict is not None and verdict.blocked:
            self._refuse(who, session_id, verdict)
            raise refusal(verdict)
        text = verdict.text if verdict is not None else text  # masked words as ＊
        now, fx = self.clock(), Effects()
        with self.db.session() as db:
            s = self._mine(db, who, session_id, write=True)
            if d.CODE_STATE[s.session_state] not in (State.ACTIVE, State.WARNING) or s.agent_id != who.user_id:
                raise IllegalTransition("only the agent in charge of an active session can write to it")
            if verdict is not None and verdict.action == REVIEW:  # delivered, and flagged in the same transaction
                record(db, agent_incident(who, session_id, verdict))
            extra = {"image_url": image_url} if image_url else file.message_fields() if file else {}
            if client_id:
                extra["client_id"] = client_id
            msg = self._store_message(db, s, HandoffLine.FROM_AGENT, who.user_id, text, now, extra or None)
            if s.first_response_at is None:
                s.first_response_at = now
            s.last_agent_at = now
            fx.live.append((s.session_id, {"last_msg_ts": now}))
            self._feed(db, fx, s, "message", msg, {who.user_id})
            agent = {"id": str(who.user_id), "name": who.name}
            custom = file.message_fields() if file else None
            conversation, rationed = s.conversation_id or "", s.channel in RATIONED
            if not rationed:
                fx.customer.append(("say", conversation, (text, None, agent, image_url or None, custom,
                                                          msg["message"]["id"])))
        if rationed:
            self.deliver(fx)  # the agents' feeds first; the customer's line through the outbox
            line = self.outbox.send(conversation, Line(text, image_url or None, custom, agent=agent))
            failed, merged = not line.delivered, line.merged
        else:
            failed, merged = bool(self.deliver(fx)), False
        if failed or merged:
            # kept and marked: the agent sees a line did not arrive; a merged one did not use the quota
            self._mark(int(msg["message"]["id"]), session_id, undelivered=failed, merged=merged)
            msg["message"].update({"undelivered": True} if failed else {"merged": True})
        if failed:
            gist = text or image_url or (file.name if file else "")
            if rationed:  # the channel refused it (WeChat's window or quota): a person follows up
                msg["warning"] = UNDELIVERED
                self._follow_up(who.tenant_id, session_id, conversation, gist)
            else:  # Rasa did not take it in time: sent again for a while (handoff.redelivery)
                msg["warning"] = redelivery.WARNING
                redelivery.schedule(self, who.tenant_id, session_id, conversation, int(msg["message"]["id"]), gist)
            log.warning("an agent line to %s was not delivered", conversation)
        return msg

    def _sent_before(self, who: Principal, session_id: int, client_id: str) -> dict[str, Any] | None:
        """The line this agent already stored under ``client_id`` (delivered again), or None."""
        import datetime as dt

        with self.db.session() as db:
            s = self._mine(db, who, session_id, write=True)
            rows = db.execute(select(HandoffLine).where(
                HandoffLine.session_id == session_id, HandoffLine.sender_role == HandoffLine.FROM_AGENT,
                HandoffLine.sender_id == who.user_id,
            ).order_by(HandoffLine.created_at.desc()).limit(CLIENT_ID_LOOKBACK)).scalars().all()  # fmt: skip
            line = next((m for m in rows if line_body(m).get("client_id") == client_id), None)
            if line is None:
                return None
            body = line_body(line)
            conversation, rationed = s.conversation_id or "", s.channel in RATIONED
        msg = {"message": {"id": str(line.msg_id), "from": "agent", "sender_id": str(who.user_id),
                           "at": line.created_at.replace(tzinfo=dt.timezone.utc).timestamp(), **body}}  # fmt: skip
        if not rationed and not body.get("undelivered"):
            agent = {"id": str(who.user_id), "name": who.name}
            fx = Effects(customer=[("say", conversation, (body.get("text") or "", None, agent,
                                                          body.get("image_url"), None, str(line.msg_id), True))])
            if self.deliver(fx):
                msg["warning"] = UNDELIVERED
        return msg

    @retry_transient
    def _refuse(self, who: Principal, session_id: int, verdict: Verdict) -> None:
        """Audit a refused agent line; another's session is a 404/403 first (nothing audited against it)."""
        with self.db.session() as db:
            self._mine(db, who, session_id, write=True)
            record(db, agent_incident(who, session_id, verdict))

    def _say_line(self, conversation: str, line: Line) -> bool:
        fx = Effects(customer=[("say", conversation, (line.text, None, line.agent, line.image, line.custom))])
        return not self.deliver(fx)

    @retry_transient
    def _follow_up(self, tenant_id: str, session_id: int, conversation: str, text: str) -> None:
        """An agent line the channel refused, stored where left messages wait, so someone follows up (a ticket,
        an SMS) once the customer can be reached again."""
        with self.db.session() as db:
            s = db.get(Session, session_id)
            db.add(LeftMessage(left_id=new_id(), tenant_id=tenant_id, session_id=session_id,
                               conversation_id=conversation, customer_ref=(s.customer_ref if s else None),
                               reason="undelivered", text=(text or "(附件)")[:MAX_TEXT], status="new"))  # fmt: skip

    @retry_transient
    def _mark(self, msg_id: int, session_id: int, **flags: bool) -> None:
        import json

        with self.db.session() as db:
            m = db.get(HandoffLine, (msg_id, session_id))
            if m is not None:
                body = {**json.loads(m.content or "{}"), **{k: True for k, v in flags.items() if v}}
                m.content = json.dumps(body, ensure_ascii=False)

    @retry_transient
    def customer_seen(self, tenant_id: str, conversation_id: str, at: float | None = None) -> bool:
        """The customer's screen showed the chat (the web chat says so while it is visible): what the agent
        wrote until now needs no push (``handoff.notify``). False when no handoff is open for it."""
        now = self.clock()
        at = min(at or now, now)  # a client's clock may run ahead; never later than now
        with self.db.session() as db:
            s = self._open(db, tenant_id, conversation_id)
            if s is None:
                return False
            if at > (s.customer_seen_at or 0.0):
                s.customer_seen_at = at
            return True

    @retry_transient
    def close(self, who: Principal, session_id: int, summary: str = "") -> d.SessionView:
        now, fx = self.clock(), Effects()
        with self.db.session() as db:
            s = self._mine(db, who, session_id, write=True)
            self._transition(db, fx, s, Event.AGENT_END, now, who.user_id, {"summary": summary[:2000]},
                             summary=summary[:2000] or None)  # fmt: skip
            out = d.view(s)
        self.deliver(fx)
        self.offer_now(who.tenant_id)  # the agent has a free slot
        return out

    @retry_transient
    def customer_ended(self, tenant_id: str, conversation_id: str) -> bool:
        now, fx = self.clock(), Effects()
        with self.db.session() as db:
            s = self._open(db, tenant_id, conversation_id)
            if s is None:
                return False
            self._transition(db, fx, s, Event.USER_END, now)
        self.deliver(fx)
        self.offer_now(tenant_id)
        return True

    @retry_transient
    def record_csat(self, tenant_id: str, conversation_id: str, score: int) -> bool:
        if not 1 <= score <= 5:
            raise InvalidInput("a score is 1 to 5")
        with self.db.session() as db:
            s = db.scalar(select(Session).where(Session.tenant_id == tenant_id,
                                                Session.conversation_id == conversation_id,
                                                Session.session_state == d.STATE_CODE[State.CLOSED],
                                                Session.agent_id.is_not(None))
                          .order_by(Session.closed_at.desc()).limit(1))  # fmt: skip
            if s is None:
                return False
            s.csat = score
            return True

    @retry_transient
    def leave_message(self, tenant_id: str, conversation_id: str, customer_ref: str, text: str,
                      reason: str = "") -> int:  # fmt: skip
        text = text.strip()
        if not text:
            raise InvalidInput("an empty message")
        with self.db.session() as db:
            s = db.scalar(select(Session).where(Session.tenant_id == tenant_id,
                                                Session.conversation_id == conversation_id)
                          .order_by(Session.created_at.desc()).limit(1))  # fmt: skip
            left = LeftMessage(left_id=new_id(), tenant_id=tenant_id, session_id=s.session_id if s else None,
                               conversation_id=conversation_id, customer_ref=customer_ref[:128],
                               reason=(reason or (s.reason if s else "")) or None, text=text[:MAX_TEXT],
                               status="new")  # fmt: skip
            db.add(left)
            return left.left_id

    # --- transitions ---------------------------------------------------------------------------------
    def _transition(self, db: Any, fx: Effects, s: Session, event: Event, now: float, actor: int | None = None,
                    detail: dict[str, Any] | None = None, **values: Any) -> None:  # fmt: skip
        """``step`` applied as a compare-and-set, its event row, and the actions it names."""
        t = step(d.CODE_STATE[s.session_state], event)
        if t.after is State.CLOSED:
            values.setdefault("closed_at", d_utc(now))
        if not repo.cas_state(db, s, t, **values):
            raise IllegalTransition("the session changed meanwhile; reload it")
        repo.add_event(db, s, t, now, actor, detail)
        fx.live.append((s.session_id, {"closed": True, "tenant": s.tenant_id, "conversation": s.conversation_id or ""}
                        if t.after is State.CLOSED else {"state": t.after.value, "agent_id": s.agent_id}))  # fmt: skip
        from handoff.effects import apply_actions

        apply_actions(self, db, fx, s, t, now)


def line_body(m: HandoffLine) -> dict[str, Any]:
    """A stored handoff line's JSON body."""
    import json

    return dict(json.loads(m.content or "{}"))


def d_utc(ts: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)
