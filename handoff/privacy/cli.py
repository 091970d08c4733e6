"""``csbot privacy export|erase|purge``: a customer's data copied or erased, and the retention purge by hand.

A customer is named by the shop's customer id (``u1001``, in ``--tenant`` or the default tenant) or by a
conversation id (``default:u1001``; an anonymous visitor's is the id their client chose). Nothing found is not an
error: the command says so and exits 0 (the request is audited all the same).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from bot.errors import CsbotError
from bot.privacy.retention import RetentionConfig
from bot.privacy.service import Actor, PrivacyService
from bot.privacy.subject import subject_of
from bot.settings import load_settings
from handoff.privacy import build_service

out = Console()
app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Privacy requests (个人信息): a customer's data exported or erased; retention.")

CUSTOMER = typer.Option(..., "--customer", help="The shop's customer id, or a conversation id (tenant:customer).")
TENANT = typer.Option("", "--tenant", help="Tenant (default: tenant.default; a conversation id names its own).")


@contextmanager
def _service(settings: object) -> Iterator[PrivacyService]:
    """The service over this home's stores; a database that is down or not migrated is one line, not a trace."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    svc = build_service(settings)
    try:
        yield svc
    except (OperationalError, ProgrammingError) as exc:
        raise CsbotError(f"the database is not ready (is it up, and migrated with `csbot db upgrade`?): "
                         f"{str(exc.orig)[:200]}") from None
    finally:
        svc.close()


def _actor() -> Actor:
    try:
        return Actor(f"cli:{getpass.getuser()}"[:64])
    except (KeyError, OSError):  # no login name (a container): still the operator at the CLI
        return Actor("cli")


@app.command()
def export(customer: str = CUSTOMER, tenant: str = TENANT,
           to: Path = typer.Option(None, "--out", help="Write the JSON here (mode 0600), not to stdout.")) -> None:
    """Everything the platform holds of a customer, decrypted, as JSON."""
    s = load_settings()
    subject = subject_of(customer, tenant or None, s.default_tenant)
    with _service(s) as svc:
        data = svc.export(subject, _actor())
    if data is None:
        out.print(f"nothing found for customer {customer} in tenant {subject.tenant}")
        return
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if to is None:
        print(text)
        return
    fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: readable by this user only
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    counts = ", ".join(f"{k} {v}" for k, v in data["counts"].items())
    out.print(f"wrote {to}: {len(data['conversations'])} conversation(s); {counts}")


@app.command()
def erase(customer: str = CUSTOMER, tenant: str = TENANT,
          yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:  # fmt: skip
    """Erase a customer's data from every store. Safe to run again; a run that failed half-way finishes."""
    s = load_settings()
    subject = subject_of(customer, tenant or None, s.default_tenant)
    with _service(s) as svc:
        if not yes:
            found, counts = svc.preview(subject)
            if counts:
                shown = ", ".join(f"{k} {v}" for k, v in counts.items())
                out.print(f"customer {customer} in tenant {found.tenant}: {len(found.conversations)} conversation(s); "
                          f"{shown}")  # fmt: skip
                typer.confirm("Erase all of it? This cannot be undone", abort=True)
        report = svc.erase(subject, _actor())
    if not report.found:
        out.print(f"nothing found for customer {customer} in tenant {report.tenant}")
        return
    removed = ", ".join(f"{k} {v}" for k, v in report.removed.items() if v) or "nothing"
    out.print(f"erased customer {customer} in tenant {report.tenant}: {removed}")
    if not report.complete:
        store, why = next(iter(report.failed.items()))
        raise CsbotError(f"stopped at {store}: {why}; not reached: {', '.join(report.skipped) or '-'}. "
                         "Run the same command again to finish.")  # fmt: skip


@app.command()
def purge(dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; change nothing."),
          days: int = typer.Option(0, "--days", min=0, help="Days to keep (default: privacy.retention_days)."),
          ) -> None:  # fmt: skip
    """Remove every conversation idle for longer than the retention period, in every tenant."""
    s = load_settings()
    keep = days or RetentionConfig.from_settings(s).retention_days
    if keep <= 0:
        raise CsbotError("retention is off (privacy.retention_days: 0); pass --days N to purge by hand")
    with _service(s) as svc:
        report = svc.purge(keep, _actor(), dry_run=dry_run, default_tenant=s.default_tenant)
    verb = "would remove" if dry_run else "removed"
    total = sum(report.conversations.values())
    out.print(f"{verb} {total} conversation(s) idle for more than {keep} days "
              f"(kept: {report.kept_active} still active, {report.kept_open} with an open handoff)")  # fmt: skip
    for t, stores in sorted(report.removed.items()):
        out.print(f"  {t}: " + ", ".join(f"{k} {v}" for k, v in sorted(stores.items())))
    if report.failures:
        raise CsbotError(f"{report.failures} conversation(s) failed half-way; run the purge again")
