"""A platform's stores seeded through the code that writes them in production: Rasa's ``events`` table (as the
tracker store lays it out), the stream (outbox → the real archiver and search indexer), the handoff service
(a session taken, lines both ways, a ticket with a comment, a left message), the knowledge base's low-confidence
log, an uploaded file, a parked stream record. Used by every privacy test, on SQLite and on MariaDB."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import update

from bot.crypto import cipher_from_settings
from bot.events.envelope import StreamEvent
from bot.events.outbox import event, publish
from bot.events.stream import create_consumer
from bot.files.service import FileService
from bot.ids import new_id
from bot.privacy.stores.incidents import REDACTED
from bot.privacy.stores.trackers import events
from bot.rasa_env import prepare_tracker_store, tracker_store_url
from bot.safety.base import Verdict
from bot.safety.record import Incident, record
from bot.security import Principal
from bot.settings import Settings
from bot.storage.db import Database, make_engine
from bot.storage.models import AuditLog, DeadLetter, Message, Session, Ticket, TicketComment, User
from bot.storage.sealed import TRACKER_EVENTS
from handoff import assignment as a
from handoff.archive.archiver import Archiver
from handoff.archive.indexer import Indexer
from handoff.domain import CustomerRef
from handoff.models import AgentFeed, HandoffLine, LeftMessage, SessionEvent
from handoff.search import create_message_index
from handoff.service import HandoffService
from handoff.tickets.service import tickets_of
from knowledge.models import KbLowConfidence
from knowledge.repository import record_low_confidence

from ..handoff.conftest import Desk, make_desk

PHONE = "13812345678"  # in what the customer says: must be found in the export, never in the audit log


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@dataclass
class Seeded:
    tenant: str
    customer: str
    conversation: str
    session_id: int
    ticket_id: int
    file_key: str


@dataclass
class World:
    settings: Settings
    db: Database
    desk: Desk
    trackers: sa.engine.Engine
    files: FileService
    agents: dict[str, Principal] = field(default_factory=dict)

    @property
    def svc(self) -> HandoffService:
        return self.desk.svc

    def close(self) -> None:
        self.trackers.dispose()
        self.files.close()

    # --- the stores, as production writes them ---------------------------------------------------------
    def tracker(self, conv: str, at: float, *extra: dict[str, Any]) -> None:
        """What Rasa's tracker store writes for a short chat (one JSON event per row): the first row as written
        before sealing, the others sealed as ``channels.tracker_store`` writes them now."""
        rows = [{"event": "user", "text": f"我要退货，电话{PHONE}", "timestamp": at,
                 "parse_data": {"intent": {"name": "return_goods"}}},
                {"event": "bot", "text": "好的，请提供订单号", "timestamp": at + 1}, *extra]  # fmt: skip
        cipher = cipher_from_settings(self.settings)
        data = [json.dumps(e, ensure_ascii=False) for e in rows]
        data[1:] = [TRACKER_EVENTS.seal(cipher, d, {"sender_id": conv}) for d in data[1:]]
        with self.trackers.begin() as conn:
            conn.execute(events.insert(), [{"sender_id": conv, "type_name": e["event"], "timestamp": e["timestamp"],
                                            "data": d} for e, d in zip(rows, data, strict=True)])  # fmt: skip

    def stream(self, tenant: str, conv: str, customer: str, at: float, file_url: str) -> None:
        """Lines on the stream, archived and indexed by the real readers; one more left unread in the outbox."""
        said = {"role": "customer", "text": f"手机{PHONE}，订单 250212", "customer": customer, "channel": "web"}
        answer = {"role": "bot", "text": "查到了，退货地址已发您", "image": file_url, "customer": customer}
        with self.db.session() as s:
            publish(s, [event("message", tenant, conv, said, at=at), event("message", tenant, conv, answer, at=at + 2)])
        self.read_stream()
        with self.db.session() as s:  # still in the outbox when the erase comes
            publish(s, [event("message", tenant, conv, {"role": "customer", "text": "还在吗", "customer": customer},
                              at=at + 5)])  # fmt: skip

    def read_stream(self) -> None:
        """One pass of the archive process's two readers (the archiver, then the search indexer)."""
        archiver = Archiver(self.db, create_consumer(self.settings, "archiver"), cipher_from_settings(self.settings))
        index = create_message_index(self.settings)
        indexer = Indexer(create_consumer(self.settings, "search-index"), index)
        try:
            while archiver.run_once(0.05):
                pass
            while indexer.run_once(0.05):
                pass
        finally:
            for c in (archiver.consumer, indexer.consumer, index):
                c.close()

    def agent(self, tenant: str) -> Principal:
        if tenant not in self.agents:
            self.agents[tenant] = self.desk.agent(f"agent-{tenant}", tenant=tenant)
        return self.agents[tenant]

    def customer(self, tenant: str, customer: str, conv: str | None = None, at: float | None = None) -> Seeded:
        """A customer with something in every store; ``conv`` defaults to their logged-in conversation."""
        conv = conv or f"{tenant}:{customer}"
        at = at or self.desk.clock()
        stored = self.files.save(tenant, "退货照片.png", png())
        self.tracker(conv, at, {"event": "user", "text": "/send_file", "timestamp": at + 3,
                                "metadata": {"file": {"url": stored.url, "name": "退货照片.png"}}})  # fmt: skip
        self.stream(tenant, conv, customer, at, stored.url)
        who = self.agent(tenant)
        ticket = self.svc.request(CustomerRef(tenant, conv, "web", customer, "张三"), "after_sales")
        assert ticket.session_id is not None, ticket
        sid = ticket.session_id
        a.take(self.svc, who, sid)
        self.svc.customer_said(tenant, conv, f"我的电话是{PHONE}", None)
        self.svc.send(who, sid, "请看退货地址", image_url=stored.url)
        tickets = tickets_of(self.svc)
        t = tickets.create(who, title="退货退款", description=f"顾客电话 {PHONE}，要求上门取件", session_id=sid)
        tickets.comment(who, t.ticket_id, "已联系快递")
        self.svc.close(who, sid, "已登记退货")
        self.svc.leave_message(tenant, conv, customer, f"晚上再打给我 {PHONE}")
        with self.db.session() as s:
            record_low_confidence(s, tenant, "能不能改收货地址", 0.2, None, conv, "low_confidence")
            bad = StreamEvent(new_id(), "message", tenant, conv, at, {"role": "customer", "text": f"乱码{PHONE}"})
            s.add(DeadLetter(dl_id=new_id(), group_name="archiver", source="platform", position="1",
                             reason="unknown version", body=bad.to_json().replace('"v":1', '"v":9'),
                             created_at=at))  # fmt: skip
            refused = Verdict("block", "", f"加＊＊刷单 {PHONE}", "fraud", "zh:120")  # as the gateway records it
            record(s, Incident(tenant, "customer", "conversation", conv, refused))
        return Seeded(tenant, customer, conv, sid, t.ticket_id, stored.key)

    # --- what is there now ----------------------------------------------------------------------------
    def counts(self, seeded: Seeded) -> dict[str, int]:
        """Rows of the customer per table (and the file, the index): what an erase must bring to zero."""
        t, conv, sid = seeded.tenant, seeded.conversation, seeded.session_id
        with self.db.session() as s:
            def n(model: Any, *where: Any) -> int:
                return int(s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)

            out = {
                "archive": n(Message, Message.tenant_id == t, Message.conversation_id == conv),
                "sessions": n(Session, Session.tenant_id == t, Session.conversation_id == conv),
                "session_events": n(SessionEvent, SessionEvent.session_id == sid),
                "lines": n(HandoffLine, HandoffLine.session_id == sid),
                "feed": n(AgentFeed, AgentFeed.session_id == sid),
                "left": n(LeftMessage, LeftMessage.tenant_id == t, LeftMessage.conversation_id == conv),
                "tickets": n(Ticket, Ticket.ticket_id == seeded.ticket_id),
                "comments": n(TicketComment, TicketComment.ticket_id == seeded.ticket_id),
                "lowconf": n(KbLowConfidence, KbLowConfidence.tenant_id == t, KbLowConfidence.conversation_id == conv),
                "account": n(User, User.tenant_id == t, User.external_id == seeded.customer),
                "parked": sum(1 for b in s.scalars(sa.select(DeadLetter.body)) if f'"key":"{conv}"' in b
                              and f'"tenant":"{t}"' in b),
                "incident_text": sum(1 for d in s.scalars(sa.select(AuditLog.detail).where(
                    AuditLog.tenant_id == t, AuditLog.action == "safety.block", AuditLog.target_id == conv))
                    if d.get("text") != REDACTED),
            }  # fmt: skip
        with self.trackers.connect() as conn:
            out["trackers"] = int(conn.execute(sa.select(sa.func.count()).select_from(events)
                                               .where(events.c.sender_id == conv)).scalar() or 0)  # fmt: skip
        from bot.events.table import outbox

        with self.db.engine.connect() as conn:
            out["outbox"] = int(conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
                outbox.c.tenant_id == t, outbox.c.stream_key == conv, outbox.c.kind != "erased")).scalar() or 0)
        out["file"] = int(self.files.store.get(seeded.file_key) is not None)
        out["indexed"] = self.indexed(t, conv)
        return out

    def indexed(self, tenant: str, conv: str) -> int:
        from handoff.search import MessageQuery

        index = create_message_index(self.settings)
        try:
            return index.search(tenant, MessageQuery(conversation_id=conv, limit=100)).total
        finally:
            index.close()

    def age(self, seeded: Seeded, days: float) -> None:
        """Move every record of the conversation ``days`` into the past (what months of quiet look like); its
        lines still on the stream are archived first, as the archive process would have long since."""
        self.read_stream()
        secs, delta = days * 86400, dt.timedelta(days=days)
        t, conv, sid = seeded.tenant, seeded.conversation, seeded.session_id
        with self.db.session() as s:
            for model, cols, where in (
                (Message, ("created_at",), (Message.tenant_id == t, Message.conversation_id == conv)),
                (Session, ("created_at", "closed_at", "last_msg_time"), (Session.session_id == sid,)),
                (HandoffLine, ("created_at",), (HandoffLine.session_id == sid,)),
                (LeftMessage, ("created_at",), (LeftMessage.conversation_id == conv,)),
                (Ticket, ("created_at", "updated_at"), (Ticket.ticket_id == seeded.ticket_id,)),
                (KbLowConfidence, ("created_at",), (KbLowConfidence.conversation_id == conv,)),
            ):  # fmt: skip
                for row in s.scalars(sa.select(model).where(*where)):  # in Python: SQLite keeps datetimes as text
                    for c in cols:
                        if getattr(row, c) is not None:
                            setattr(row, c, getattr(row, c) - delta)
            s.execute(update(AgentFeed).where(AgentFeed.session_id == sid).values(at=AgentFeed.at - secs))
            s.execute(update(SessionEvent).where(SessionEvent.session_id == sid).values(at=SessionEvent.at - secs))
            s.execute(update(DeadLetter).where(DeadLetter.body.like(f'%"key":"{conv}"%'))
                      .values(created_at=DeadLetter.created_at - secs))  # fmt: skip
        with self.trackers.begin() as conn:
            conn.execute(events.update().where(events.c.sender_id == conv).values(timestamp=events.c.timestamp - secs))


def make_world(settings: Settings) -> World:
    db = Database.from_settings(settings)
    desk = make_desk(db)
    desk.clock.now = time.time()  # the stores' own timestamps (created_at) are the wall clock's: keep them together
    url = tracker_store_url(settings) or f"sqlite:///{settings.home / 'rasa_trackers.db'}"
    if url.startswith("sqlite"):  # what Rasa's SQLTrackerStore creates on SQLite
        engine = make_engine(url)
        md = sa.MetaData()
        sa.Table("events", md, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                 sa.Column("sender_id", sa.String(255), nullable=False, index=True),
                 sa.Column("type_name", sa.String(255), nullable=False), sa.Column("timestamp", sa.Float),
                 sa.Column("intent_name", sa.String(255)), sa.Column("action_name", sa.String(255)),
                 sa.Column("data", sa.Text))  # fmt: skip
        md.create_all(engine)
    else:
        prepare_tracker_store(settings)  # csbot setup's own events table on MySQL/MariaDB
        engine = make_engine(url)
    return World(settings, db, desk, engine, FileService.from_settings(settings))
