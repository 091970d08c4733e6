"""``csbot messages search "退款" --customer u1001 --from 2026-12-01 --json``: the message index read directly
(the operator's view of a tenant: no agent scope), e.g. to answer a customer's complaint or an audit."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from bot.errors import CsbotError
from bot.settings import load_settings
from handoff.config import HandoffConfig
from handoff.search import create_message_index
from handoff.search.service import query_from

out = Console()
messages_app = typer.Typer(no_args_is_help=True, help="The message archive: search its PII-masked index.")


@messages_app.callback()
def group() -> None:
    """The message archive: search its PII-masked index."""  # a group even with one command: `messages search`


@messages_app.command("search")
def search(words: str = typer.Argument("", help="Words to find (plain text); empty: the latest lines."),
           customer: str = typer.Option("", help="The shop's customer id."),
           agent: str = typer.Option("", help="An agent's user id or login."),
           role: str = typer.Option("", help="customer, bot or agent."),
           since: str = typer.Option("", "--from", help="A date (whole day, shop time), ISO time or epoch seconds."),
           until: str = typer.Option("", "--to", help="The same; a date includes that day."),
           conversation: str = typer.Option("", help="One conversation id."),
           limit: int = typer.Option(20, min=1, max=100),
           tenant: str = typer.Option("", help="Tenant (default: tenant.default)."),
           as_json: bool = typer.Option(False, "--json", help="JSON: total and hits.")) -> None:  # fmt: skip
    """Search archived lines by words, customer, agent, role and time."""
    s = load_settings()
    tenant = tenant or s.default_tenant
    tz = HandoffConfig.from_mapping(s.raw.get("handoff")).timezone
    index = create_message_index(s)
    try:
        agent_id = None
        if agent:
            from bot.crypto import cipher_from_settings
            from bot.storage.db import Database
            from handoff.search.service import MessageSearch

            agent_id = MessageSearch(index, Database.from_settings(s), cipher_from_settings(s)).agent_id(tenant, agent)
        params = {"q": words, "customer": customer, "role": role, "from": since, "to": until,
                  "conversation": conversation, "limit": str(limit)}  # fmt: skip
        page = index.search(tenant, query_from(params, tz, agent_id))
    except CsbotError as exc:
        out.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        index.close()
    if as_json:
        print(json.dumps(page.to_json(), ensure_ascii=False))
        return
    shown = f", first {len(page.hits)}" if page.total > len(page.hits) else ""
    table = Table(title=f"{page.total} line(s) in {tenant}{shown}")
    for col in ("time", "conversation", "customer", "role", "line"):
        table.add_column(col)
    for h in page.hits:
        when = dt.datetime.fromtimestamp(h.at, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
        table.add_row(when, h.conversation_id, h.customer or "", h.role + (f" {h.agent_id}" if h.agent_id else ""),
                      h.snippet)  # fmt: skip
    out.print(table)
