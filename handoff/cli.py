"""``csbot agents …`` (accounts of the people who take chats) and ``csbot handoff status`` (the queue now).

Accounts are rows in the database; ``handoff status`` asks the running handoff service (presence lives
there), with a supervisor token minted from this home's secret, as ``csbot kb`` does for the KB."""

from __future__ import annotations

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from bot.errors import CsbotError, NotFound
from bot.security import Principal, issue_token
from bot.settings import load_settings
from bot.storage.db import Database
from bot.storage.models import User
from bot.users import UserService

out = Console()
agents_app = typer.Typer(no_args_is_help=True, help="Agents and supervisors: add, list, change.")
handoff_app = typer.Typer(no_args_is_help=True, help="The human handoff: queue, agents and their load.")


@agents_app.command("add")
def add(login: str, supervisor: bool = typer.Option(False, "--supervisor", help="A supervisor, not an agent."),
        name: str = typer.Option("", help="Display name customers see (default: the login)."),
        skill: list[str] = typer.Option([], "--skill", help="Skill group (repeatable); none: every group."),
        capacity: int = typer.Option(5, min=1, max=50, help="Chats at once."),
        tenant: str = typer.Option("", help="Tenant (default: tenant.default)."),
        password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True)) -> None:  # fmt: skip
    """Create an agent (or supervisor) who logs in to the inbox."""
    s = load_settings()
    db = Database.from_settings(s)
    u = UserService(db).create(tenant or s.default_tenant, login, name, {"supervisor" if supervisor else "agent"},
                               password, tuple(skill))  # fmt: skip
    _set(db, u.tenant_id, login, capacity=capacity)
    out.print(f"added {u.login} ({u.name}), {'supervisor' if supervisor else 'agent'}, capacity {capacity}, "
              f"groups {', '.join(skill) or 'all'}")  # fmt: skip


@agents_app.command("list")
def list_(tenant: str = typer.Option("", help="Tenant (default: tenant.default).")) -> None:
    """Agents and supervisors with their groups and capacity."""
    s = load_settings()
    with Database.from_settings(s).session() as db:
        rows = db.scalars(select(User).where(User.tenant_id == (tenant or s.default_tenant),
                                             User.user_type != User.CUSTOMER).order_by(User.external_id))  # fmt: skip
        table = Table("login", "name", "roles", "groups", "capacity", "account")
        for u in rows:
            table.add_row(u.external_id or "", u.nick_name, u.roles or "", u.skills or "all", str(u.capacity),
                          "active" if u.status == 1 else "disabled")  # fmt: skip
    out.print(table)


@agents_app.command("set")
def set_(login: str, capacity: int = typer.Option(None, min=1, max=50),
         skill: list[str] = typer.Option(None, "--skill", help="Replace the groups (repeatable)."),
         disable: bool = typer.Option(None, "--disable/--enable", help="Lock or unlock the account."),
         tenant: str = typer.Option("", help="Tenant (default: tenant.default).")) -> None:  # fmt: skip
    """Change an agent's capacity, groups, or lock the account."""
    s = load_settings()
    changes: dict[str, object] = {}
    if capacity is not None:
        changes["capacity"] = capacity
    if skill is not None:
        changes["skills"] = ",".join(skill) or None
    if disable is not None:
        changes["status"] = 0 if disable else 1
    if not changes:
        raise CsbotError("nothing to change: give --capacity, --skill or --disable/--enable")
    _set(Database.from_settings(s), tenant or s.default_tenant, login, **changes)
    out.print(f"{login}: " + ", ".join(f"{k} → {v}" for k, v in changes.items()))


def _set(db: Database, tenant: str, login: str, **values: object) -> None:
    from bot.audit import audit

    with db.session() as session:
        u = session.scalar(select(User).where(User.tenant_id == tenant, User.external_id == login,
                                              User.user_type != User.CUSTOMER))  # fmt: skip
        if u is None:
            raise NotFound(f"no agent {login} in tenant {tenant}")
        for k, v in values.items():
            setattr(u, k, v)
        audit(session, tenant, "agent.update", "user", str(u.user_id), {k: str(v) for k, v in values.items()})


@handoff_app.command("status")
def status(tenant: str = typer.Option("", help="Tenant (default: tenant.default).")) -> None:
    """The queue per group, and every agent's presence and load, from the running handoff service."""
    s = load_settings()
    who = Principal(0, tenant or s.default_tenant, frozenset({"supervisor"}), "csbot-cli")
    headers = {"Authorization": f"Bearer {issue_token(s.keyring, who, 120)}"}
    try:
        r = httpx.get(f"{s.services.url('handoff')}/api/agent/overview", headers=headers, timeout=5)
        r.raise_for_status()
    except httpx.HTTPError as exc:
        raise CsbotError(f"the handoff service at {s.services.url('handoff')} did not answer ({exc}); "
                         "is `csbot run` up?") from None  # fmt: skip
    data = r.json()
    queues = Table("group", "waiting", "longest wait")
    for group, q in sorted(data["queues"].items()):
        queues.add_row(group or "-", str(q["waiting"]), f"{q['longest_wait_seconds']} s")
    out.print(f"open sessions: {data['open_sessions']}")
    out.print(queues)
    agents = Table("agent", "status", "load / capacity", "groups")
    for a in data["agents"]:
        load = f"{a['load']} / {a['capacity']}"
        agents.add_row(f"{a['name']} ({a['login']})", a["status"], load, a["skills"] or "all")
    out.print(agents)
