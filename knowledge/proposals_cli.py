"""``csbot kb proposals list|accept|reject``: review the similar questions an LLM proposed at import.

Listing reads the database only. Accepting or rejecting changes the indexes, so while the platform runs it
goes through the running knowledge service's admin API, like ``csbot kb import``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.table import Table

from bot.errors import CsbotError
from bot.settings import load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Similar questions proposed by the LLM (import --propose-similar): review them.")  # fmt: skip


def report_line(report: dict[str, Any]) -> str:
    """One line for a proposal run's report (knowledge.proposals.ProposalReport.to_dict())."""
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(report.get("dropped", {}).items()))
    line = f"proposed {report['proposed']} similar question(s) for {report['asked']} FAQ(s)"
    line += f" (dropped: {dropped})" if dropped else ""
    line += "; not live until reviewed: csbot kb proposals list"
    if report.get("error"):
        line += f"\nthe import stands, but proposing stopped: {report['error']}"
    return line


@app.command("list")
def list_cmd(
    tenant: str = typer.Option(None, "--tenant", "-t"),
    status: str = typer.Option("pending", help="pending, accepted, rejected or all"),
    faq: str = typer.Option(None, help="only the proposals for this FAQ id"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Proposals of a tenant, by FAQ."""
    from knowledge.cli import kb_service, out
    from knowledge.proposals import list_proposals

    with kb_service() as svc:
        rows = list_proposals(svc, tenant or svc.default_tenant, status, faq)
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    table = Table("id", "faq", "proposed similar question", "status", "source", title=f"{len(rows)} proposal(s)")
    for r in rows:
        table.add_row(r["id"], r["faq"], r["text"], r["status"], r["source"])
    out.print(table)


def _review(ids: list[str], tenant: str | None, accept: bool, all_pending: bool, faq: str | None) -> None:
    from knowledge.cli import _fail, _remote, _remote_call, kb_service, out
    from knowledge.proposals import list_proposals, review

    tenant_id = tenant or load_settings().default_tenant
    if all_pending:
        with kb_service() as svc:
            ids = [*ids, *(r["id"] for r in list_proposals(svc, tenant_id, "pending", faq))]
    if not ids:
        _fail(CsbotError("no proposals to review: give ids, or --all for every pending one"))
    remote = _remote()
    if remote is not None:
        result = _remote_call(remote, lambda r: r.review_proposals(ids, accept, tenant_id))
    else:
        with kb_service() as svc:
            result = review(svc, tenant_id, ids, accept, "csbot-cli")
    done = result["accepted" if accept else "rejected"]
    out.print(f"{'accepted' if accept else 'rejected'} {len(done)} proposal(s), {result['faqs_updated']} FAQ(s) "
              f"re-indexed; {len(result['unchanged'])} unchanged (already reviewed)")  # fmt: skip


@app.command("accept")
def accept_cmd(
    ids: list[str] = typer.Argument(None, help="proposal ids (csbot kb proposals list)"),
    tenant: str = typer.Option(None, "--tenant", "-t"),
    all_pending: bool = typer.Option(False, "--all", help="every pending proposal (of --faq, if given)"),
    faq: str = typer.Option(None, help="with --all: only this FAQ's"),
) -> None:
    """Make proposals live: each joins its FAQ's similar questions and the indexes."""
    _review(ids or [], tenant, True, all_pending, faq)


@app.command("reject")
def reject_cmd(
    ids: list[str] = typer.Argument(None, help="proposal ids (csbot kb proposals list)"),
    tenant: str = typer.Option(None, "--tenant", "-t"),
    all_pending: bool = typer.Option(False, "--all", help="every pending proposal (of --faq, if given)"),
    faq: str = typer.Option(None, help="with --all: only this FAQ's"),
) -> None:
    """Drop proposals (an accepted one also leaves its FAQ); a rejected text is not proposed again."""
    _review(ids or [], tenant, False, all_pending, faq)
