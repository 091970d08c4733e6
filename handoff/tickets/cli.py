"""``csbot tickets list|show|create|move|comment``: the ticket service from a terminal, on this home's database.

Who acts is ``--as LOGIN`` (a staff account of the tenant; audited as them), else the CLI as a supervisor.
Customers are told what the API would tell them, through the Rasa server when it runs (a line it cannot
deliver is logged, the change stands)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from bot.errors import NotFound
from bot.security import Principal
from bot.settings import load_settings
from bot.storage.db import Database
from bot.storage.models import User
from handoff.config import HandoffConfig
from handoff.presence.memory import MemoryPresence
from handoff.relay import RasaRelay
from handoff.service import HandoffService
from handoff.tickets import policy
from handoff.tickets.config import TicketsConfig
from handoff.tickets.service import TicketQuery, TicketService, tickets_of
from handoff.tickets.states import Status, parse
from handoff.tickets.views import TicketView

out = Console()
app = typer.Typer(no_args_is_help=True, help="Tickets: list, show, open, move, comment.")
TENANT = typer.Option("", "--tenant", help="Tenant (default: tenant.default).")
AS = typer.Option("", "--as", help="Act as this staff login (default: the CLI as a supervisor).")


@contextmanager
def _service(tenant: str, login: str) -> Iterator[tuple[TicketService, Principal]]:
    s = load_settings()
    db = Database.from_settings(s)
    relay = RasaRelay(s, timeout=3.0)
    cfg = HandoffConfig.from_mapping(s.raw.get("handoff"))
    handoff = HandoffService(db, MemoryPresence(cfg.heartbeat_ttl_seconds), cfg, relay)
    tenant = tenant or s.default_tenant
    who = Principal(0, tenant, frozenset({"supervisor"}), "csbot-cli")
    if login:
        with db.session() as session:
            u = session.scalar(select(User).where(User.tenant_id == tenant, User.external_id == login,
                                                  User.user_type != User.CUSTOMER))  # fmt: skip
            if u is None:
                raise NotFound(f"no staff account {login} in tenant {tenant}")
            who = Principal(u.user_id, tenant, frozenset((u.roles or "agent").split(",")), u.nick_name)
    try:
        yield tickets_of(handoff, TicketsConfig.from_mapping(s.raw.get("tickets"))), who
    finally:
        relay.close()
        db.dispose()


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M") if ts else "-"


def _left(t: TicketView, now: float) -> str:
    if t.status not in (Status.NEW, Status.IN_PROGRESS) or t.expired_at is None:
        return "暂停" if t.status is Status.WAITING_CUSTOMER else "-"
    minutes = round((t.expired_at - now) / 60)
    return f"超时 {-minutes} 分钟" if minutes < 0 else f"{minutes} 分钟"


def _print(t: TicketView) -> None:
    category = policy.CATEGORIES.get(t.category or "", "未分类")
    out.print(f"[bold]{t.ticket_no}[/bold] ({t.ticket_id}) {t.status.label} · 优先级 {t.priority} · {category} · "
              f"{policy.SOURCES.get(t.source, t.source)}")  # fmt: skip
    out.print(f"{t.title}\n{t.description}" if t.description else t.title)
    out.print(f"conversation {t.conversation_id or '-'} · session {t.session_id or '-'} · assignee "
              f"{t.assignee_id or '-'} · SLA {t.sla_minutes} min, {_left(t, time.time())}")  # fmt: skip


@app.command("list")
def list_(status: str = typer.Option("", help="Comma-separated: new,in_progress,waiting_customer,resolved,closed."),
          assignee: str = typer.Option("", help="me, none or an agent id."),
          category: str = typer.Option("", help="refund, logistics, complaint or tech."),
          breached: bool = typer.Option(False, "--breached", help="Only tickets past their SLA."),
          limit: int = typer.Option(50, min=1, max=200), tenant: str = TENANT, login: str = AS) -> None:  # fmt: skip
    """Tickets, newest first."""
    q = TicketQuery(status=tuple(parse(x) for x in status.split(",") if x.strip()), assignee=assignee or None,
                    category=category or None, breached=True if breached else None, limit=limit)  # fmt: skip
    with _service(tenant, login) as (svc, who):
        rows = svc.list(who, q)
    now = time.time()
    table = Table()
    table.add_column("number", no_wrap=True)  # what people read out: never broken across lines
    for name in ("status", "prio", "category", "title", "assignee", "SLA left", "created"):
        table.add_column(name)
    for t in rows:
        table.add_row(t.ticket_no, t.status.label, str(t.priority), policy.CATEGORIES.get(t.category or "", "-"),
                      t.title[:30], str(t.assignee_id or "-"), _left(t, now), _when(t.created_at))  # fmt: skip
    out.print(table)


def _ticket_id(svc: TicketService, who: Principal, ref: str) -> int:
    """A ticket by its id or its number (T2601010007)."""
    return int(ref) if ref.isdigit() else svc.by_number(who, ref).ticket_id


@app.command("show")
def show(ticket: str = typer.Argument(..., help="Ticket number or id."), tenant: str = TENANT,
         login: str = AS) -> None:  # fmt: skip
    """A ticket with its comments."""
    with _service(tenant, login) as (svc, who):
        t, comments = svc.get(who, _ticket_id(svc, who, ticket))
    _print(t)
    for c in comments:
        out.print(f"  {_when(c.created_at)} [{c.author_role}] {c.text}")


@app.command("create")
def create(title: str, session: str = typer.Option("", help="The handoff session id."),
           conversation: str = typer.Option("", help="The conversation id (Rasa sender id)."),
           description: str = typer.Option(""), category: str = typer.Option(""),
           priority: int = typer.Option(0, help="1=紧急 2=高 3=中 4=低 (default by category)."),
           tenant: str = TENANT, login: str = AS) -> None:  # fmt: skip
    """Open a ticket from a conversation; the customer is told its number."""
    with _service(tenant, login) as (svc, who):
        t = svc.create(who, title=title, description=description, category=category or None,
                       priority=priority or None, session_id=int(session) if session.isdigit() else None,
                       conversation_id=conversation or None)  # fmt: skip
    _print(t)


@app.command("move")
def move(ticket: str, status: str = typer.Argument(..., help="in_progress, waiting_customer, resolved, closed."),
         note: str = typer.Option("", help="An internal comment."),
         reply: str = typer.Option("", help="What the customer reads (on waiting_customer / resolved)."),
         tenant: str = TENANT, login: str = AS) -> None:  # fmt: skip
    """Move a ticket (illegal moves are refused)."""
    with _service(tenant, login) as (svc, who):
        t = svc.move(who, _ticket_id(svc, who, ticket), parse(status), note, reply)
    out.print(f"{t.ticket_no}: {t.status.label}")


@app.command("comment")
def comment(ticket: str, text: str, tenant: str = TENANT, login: str = AS) -> None:
    """Add an internal comment."""
    with _service(tenant, login) as (svc, who):
        c = svc.comment(who, _ticket_id(svc, who, ticket), text)
    out.print(f"comment {c.comment_id} added")
