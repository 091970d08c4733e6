"""``csbot kb ...``: import, evaluate and operate the knowledge base (registered via the csbot.commands
entry point). Every command honours CSBOT_HOME and migrates a fresh database first."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.errors import CsbotError
from bot.settings import load_settings
from knowledge.proposals_cli import app as proposals_app
from knowledge.proposals_cli import report_line

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Knowledge base: import, eval, versions.")
out = Console()
err = Console(stderr=True)


def _service():  # type: ignore[no-untyped-def]
    from knowledge.service import KnowledgeService

    svc = KnowledgeService.from_settings(load_settings())
    svc.migrate()
    return svc


@contextmanager
def kb_service() -> Iterator[Any]:
    """The knowledge service for one command: closed afterwards; a CsbotError becomes one red line, exit 1."""
    try:
        svc = _service()
    except CsbotError as exc:
        _fail(exc)
    try:
        yield svc
    except CsbotError as exc:
        _fail(exc)
    finally:
        svc.close()


def _remote():  # type: ignore[no-untyped-def]
    """The running platform's knowledge service (None when the platform is not running in this home)."""
    from knowledge.remote import RemoteKnowledge

    try:
        return RemoteKnowledge.running(load_settings())
    except CsbotError as exc:
        _fail(exc)


def _remote_call(remote, fn):  # type: ignore[no-untyped-def]
    """One call to the running knowledge service; its error becomes one red line, exit 1."""
    try:
        return fn(remote)
    except CsbotError as exc:
        _fail(exc)
    finally:
        remote.close()


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command("import")
def import_cmd(
    paths: list[Path] = typer.Argument(
        ..., help="FAQ files (.jsonl .csv .yaml) and documents (.md .txt .html .pdf .docx) or directories"
    ),
    tenant: str = typer.Option(None, "--tenant", "-t", help="tenant id (default: tenant.default)"),
    prune: bool = typer.Option(False, help="delete this tenant's FAQs that are not in the imported FAQ files"),
    as_json: bool = typer.Option(False, "--json", help="print the per-file report as JSON"),
    propose_similar: bool = typer.Option(
        False,
        "--propose-similar",
        help="ask the configured LLM for similar questions of FAQs that have few "
        "(stored for review, not live: csbot kb proposals)",
    ),
    min_similar: int = typer.Option(3, help="with --propose-similar: FAQs with fewer similar questions than this"),
    per_faq: int = typer.Option(5, help="with --propose-similar: proposals asked per FAQ (1-20)"),
) -> None:
    """Import (incrementally) FAQ files and documents; prints a per-file report."""
    from knowledge.ingest import FileReport, expand_paths

    files = expand_paths(paths)
    if propose_similar:
        _check_proposer(min_similar, per_faq)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err, disable=as_json or not err.is_terminal)  # fmt: skip
    remote = _remote()
    if remote is not None:
        # the platform runs and owns the embedded stores: its knowledge service imports, the bot sees it at once
        if prune:
            _fail(CsbotError("--prune needs the whole FAQ set in one process: stop the platform first"))
        err.print(f"the platform is running: importing through its knowledge service ({remote.base_url})")
        tenant_id = tenant or load_settings().default_tenant
        reports = []
        with bar:
            task = bar.add_task("importing", total=len(files))
            for f in files:
                bar.update(task, description=f"importing {f.name}")
                reports.append(FileReport(**remote.import_file(f, tenant_id)))
                bar.update(task, advance=1)
        remote.close()
    else:
        with kb_service() as svc, bar:
            task = bar.add_task("importing", total=len(files))

            def on_file(report):  # type: ignore[no-untyped-def]
                bar.update(task, advance=1, description=f"importing {Path(report.path).name}")

            reports = svc.import_paths(paths, tenant, prune, on_file)
    failed = [r for r in reports if r.status == "error"]
    proposed = _propose(files, tenant, min_similar, per_faq) if propose_similar else None
    if as_json:
        out.print_json(json.dumps({"files": [r.to_dict() for r in reports], "failed": len(failed),
                                   **({"proposals": proposed} if proposed is not None else {})},
                                  ensure_ascii=False))  # fmt: skip
    else:
        table = Table("file", "kind", "status", "added", "updated", "unchanged", "removed", "embedded", "s", "error")
        for r in reports:
            style = "red" if r.status == "error" else None
            table.add_row(Path(r.path).name, r.kind, r.status, str(r.added), str(r.updated), str(r.unchanged),
                          str(r.removed), str(r.embedded), f"{r.seconds:.2f}", r.error or "; ".join(r.notes),
                          style=style)  # fmt: skip
        out.print(table)
        if proposed is not None:
            (err if proposed.get("error") else out).print(report_line(proposed), markup=False)
    if failed:
        raise typer.Exit(2)


def _check_proposer(min_similar: int, per_faq: int) -> None:
    """Before importing anything: --propose-similar needs an LLM in the settings and sane numbers."""
    settings = load_settings()
    backend = settings.backend("llm")
    if backend.type != "openai" or not backend.options.get("base_url") or not backend.options.get("model"):
        _fail(CsbotError("--propose-similar needs an LLM: set llm: {type: openai, base_url, model} in csbot.yml"))
    if not 1 <= per_faq <= 20 or not 0 <= min_similar <= 100:
        _fail(CsbotError("--per-faq must be 1..20 and --min-similar 0..100"))


def _propose(files: list[Path], tenant: str | None, min_similar: int, per_faq: int) -> dict[str, Any]:
    """Proposals for the FAQs of the imported FAQ files. Only SQL and the LLM are touched, so this runs here
    even while the platform owns the indexes."""
    from knowledge.proposals import propose_similar
    from knowledge.text.faq_files import parse_faq_file
    from knowledge.text.loaders import FAQ_TYPES, LoadError

    ext_ids: list[str] = []
    for f in files:
        if f.suffix.lower() in FAQ_TYPES:
            try:
                ext_ids += [r.ext_id for r in parse_faq_file(f, 1 << 30)]
            except LoadError:
                continue  # reported by the import already
    with kb_service() as svc:
        return propose_similar(svc, tenant or svc.default_tenant, ext_ids, min_similar, per_faq).to_dict()


@app.command("eval")
def eval_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL lines {query, expected: [ids]}"),
    tenant: str = typer.Option(None, "--tenant", "-t"),
    as_json: bool = typer.Option(False, "--json", help="print only the JSON object"),
    details: bool = typer.Option(False, help="include per-query results"),
    baseline: bool = typer.Option(
        False, "--baseline", help="also measure a plain dense baseline (FAQ question+answer, cosine top-k)"
    ),
) -> None:
    """Measure retrieval and gating on an eval file; prints one JSON object."""
    from knowledge.evaluation import evaluate, load_cases

    # the baseline compares per case, so the pipeline's per-query ranks are needed even when not printed
    want_details = details or baseline
    remote = _remote()
    if remote is not None:

        def remote_eval(r):  # type: ignore[no-untyped-def]
            load_cases(file)  # a malformed file fails here, with its line number, before anything is sent
            return r.evaluate(file, tenant or load_settings().default_tenant, want_details)

        report = _remote_call(remote, remote_eval)
    else:
        with kb_service() as svc:
            report = evaluate(svc, load_cases(file), tenant, want_details)
    if baseline:
        report = _with_baseline(report, load_cases(file), tenant, details)
    text = json.dumps(report, ensure_ascii=False)
    if as_json:
        sys.stdout.write(text + "\n")
    else:
        out.print_json(text)
        if baseline:
            out.print(_baseline_table(report))


def _with_baseline(report: dict[str, Any], cases: list[Any], tenant: str | None, details: bool) -> dict[str, Any]:
    """The pipeline report plus ``baseline``: the plain dense baseline on the same KB and cases."""
    from knowledge.baseline import evaluate_baseline, for_tenant, recall_report

    # only the database and the embedder are used: this works beside a running platform too
    with kb_service() as svc:
        base = evaluate_baseline(for_tenant(svc, tenant), cases)
    rows = report["details"] if details else report.pop("details")
    sub = recall_report(cases, [r["rank"] for r in rows])
    report.update({k: sub[k] for k in ("recall@1_faq_cases", "recall@5_faq_cases", "faq_cases")})
    report["baseline"] = base
    return report


def _baseline_table(report: dict[str, Any]) -> Table:
    base = report["baseline"]
    table = Table("", "pipeline", "baseline (FAQ question+answer, cosine)",
                  title=f"{report['in_scope']} in-scope cases ({report['faq_cases']} expect an FAQ), "
                        f"{report['out_of_scope']} out-of-scope")  # fmt: skip
    for key in ("recall@1", "recall@5", "mrr", "recall@1_faq_cases", "recall@5_faq_cases"):
        table.add_row(key, f"{report[key]:.3f}", f"{base[key]:.3f}")
    # the baseline has no gate: it always answers, so these two are the pipeline's alone
    table.add_row("answered_in_scope", f"{report['answered_in_scope']:.3f}", "-")
    table.add_row("abstained_oos", f"{report['abstained_oos']:.3f}", "-")
    return table


@app.command("ask")
def ask_cmd(query: str, tenant: str = typer.Option(None, "--tenant", "-t")) -> None:
    """Answer one question as the bot would."""
    remote = _remote()
    if remote is not None:
        answer = _remote_call(remote, lambda r: r.ask(query, tenant or load_settings().default_tenant))
    else:
        with kb_service() as svc:
            answer = svc.answer(query, tenant or svc.default_tenant).to_dict()
    out.print_json(json.dumps(answer, ensure_ascii=False))


@app.command("rebuild")
def rebuild_cmd(
    switch: bool = typer.Option(False, help="switch to the new version when it is built"),
    note: str = typer.Option(None, help="why (recorded with the version)"),
) -> None:
    """Build a full new index version beside the live one (e.g. after changing the embedding model)."""
    remote = _remote()
    if remote is not None:
        err.print(f"the platform is running: rebuilding in its knowledge service ({remote.base_url})")
        done = _remote_call(remote, lambda r: r.rebuild(note, switch))
        out.print(f"built [bold]{done['version']}[/bold] ({done['model']}); status {done['status']}")
        return
    bar = Progress(TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                   disable=not err.is_terminal)  # fmt: skip
    with kb_service() as svc, bar:
        task = bar.add_task("rebuild", total=None)
        v = svc.rebuild(note=note, switch=switch, progress=lambda d, t: bar.update(task, completed=d, total=t))
    out.print(f"built [bold]{v.name}[/bold] ({v.model_id}); status {v.status}")


@app.command("switch")
def switch_cmd(version: str) -> None:
    """Make VERSION live (atomically); the current live version is kept for rollback."""
    remote = _remote()
    if remote is not None:
        live = _remote_call(remote, lambda r: r.switch(version))["live"]
    else:
        with kb_service() as svc:
            live = svc.switch(version).name
    out.print(f"live version is now [bold]{live}[/bold]")


@app.command("rollback")
def rollback_cmd() -> None:
    """Make the previous version live again."""
    remote = _remote()
    if remote is not None:
        live = _remote_call(remote, lambda r: r.rollback())["live"]
    else:
        with kb_service() as svc:
            live = svc.rollback().name
    out.print(f"rolled back: live version is now [bold]{live}[/bold]")


@app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Index versions, their models and sizes."""
    remote = _remote()
    if remote is not None:
        rows = _remote_call(remote, lambda r: r.status())
    else:
        with kb_service() as svc:
            rows = svc.versions.status()
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    table = Table("version", "status", "model", "dim", "vectors", "keywords", "created", "activated", "note")
    for r in rows:
        # a version built by another model than the configured one: `csbot kb rebuild` makes a current one
        model = r["model"] if r.get("model_is_configured", True) else f"{r['model']} [yellow](not configured)[/yellow]"
        table.add_row(r["name"], r["status"], model, str(r["dim"]), str(r.get("vectors", "-")),
                      str(r.get("keywords", "-")), r["created_at"], r["activated_at"] or "-",
                      r["note"] or "")  # fmt: skip
    out.print(table)


@app.command("lowconf")
def lowconf_cmd(
    tenant: str = typer.Option(None, "--tenant", "-t"),
    since_days: int = typer.Option(30, help="only questions from the last N days"),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl, csv, or faq-draft (FAQ file to review, then import)"),
    output: Path = typer.Option(None, "--output", "-o", help="file to write (default: stdout)"),
    mark_reviewed: bool = typer.Option(False, help="mark the exported questions as reviewed"),
) -> None:
    """Export low-confidence questions for review (active learning, seed §2.5.9)."""
    if fmt not in ("jsonl", "csv", "faq-draft"):
        _fail(CsbotError(f"--format must be jsonl, csv or faq-draft, not {fmt!r}"))
    with kb_service() as svc:
        since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=since_days)
        tenant_id = tenant or svc.default_tenant
        rows = svc.low_confidence(tenant_id, since, mark_reviewed)
        if fmt == "faq-draft":
            rows = svc.feedback.faq_draft(tenant_id, rows)
    stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        if fmt == "csv":
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]) if rows else ["query"])
            writer.writeheader()
            writer.writerows(rows)
        else:
            for r in rows:
                stream.write(json.dumps(r, ensure_ascii=False) + "\n")
    finally:
        if output:
            stream.close()
    if output:
        what = "FAQ(s) with proposed similar questions" if fmt == "faq-draft" else "question(s)"
        err.print(f"{len(rows)} {what} written to {output}")


SAMPLES = Path(__file__).resolve().parent / "samples"
app.add_typer(proposals_app, name="proposals")


@app.command("seed")
def seed_cmd(tenant: str = typer.Option(None, "--tenant", "-t", help="tenant id (default: tenant.default)")) -> None:
    """Import the shipped sample shop KB (knowledge/samples) if this tenant has no FAQ yet."""
    from sqlalchemy import func, select

    from bot.storage.models import Faq

    with kb_service() as svc:
        tenant_id = tenant or svc.default_tenant
        with svc.db.session() as s:
            existing = s.scalar(select(func.count()).select_from(Faq).where(Faq.tenant_id == tenant_id)) or 0
        if existing:
            out.print(f"knowledge base of tenant {tenant_id} has {existing} FAQs; nothing to seed")
        else:
            reports = svc.import_paths([SAMPLES / "faq.jsonl", SAMPLES / "docs"], tenant_id)
            failed = [r for r in reports if r.status == "error"]
            out.print(f"seeded tenant {tenant_id} with the sample KB ({len(reports) - len(failed)} files)")
            if failed:
                raise CsbotError("; ".join(f"{r.path}: {r.error}" for r in failed))
