"""``csbot``: start, check and operate the platform.

Sub-commands from other packages (``csbot kb ...``) are registered through the ``csbot.commands``
entry-point group, so this core package never imports the feature packages.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from importlib.metadata import entry_points

import typer
from rich.console import Console

from bot.cli.keys import keys_app
from bot.errors import ConfigError, CsbotError
from bot.settings import Settings, load_settings

console = Console()
err = Console(stderr=True)
app = typer.Typer(no_args_is_help=True, add_completion=False, help="csbot: 智能客服 platform on Rasa.")
db_app = typer.Typer(no_args_is_help=True, help="Relational database migrations.")
app.add_typer(db_app, name="db")
user_app = typer.Typer(no_args_is_help=True, help="Staff accounts: agents, supervisors, KB admins.")
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")


def settings() -> Settings:
    return load_settings()


# --- db ------------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from bot.storage import migrate
    from bot.storage.db import Database

    db = Database.from_settings(settings())
    migrate.upgrade(db.engine, revision)
    console.print(f"database at revision [bold]{migrate.current_revision(db.engine)}[/bold] ({_safe_url(db.url)})")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from bot.storage import migrate
    from bot.storage.db import Database

    db = Database.from_settings(settings())
    console.print(f"{migrate.current_revision(db.engine)} (head {migrate.head_revision()})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- staff accounts ------------------------------------------------------------------------------
@user_app.command("add")
def user_add(login: str, role: list[str] = typer.Option(["agent"], "--role", help="agent, supervisor, kb_admin, admin"),
             name: str = typer.Option("", help="Display name (default: the login)."),
             tenant: str = typer.Option("", help="Tenant (default: tenant.default)."),
             skill: list[str] = typer.Option([], "--skill", help="Skill group (repeatable)."),
             password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="At least 8 characters (prompted when omitted).")) -> None:  # fmt: skip
    """Create a staff account that logs in at /api/auth/login."""
    from bot.storage.db import Database
    from bot.users import UserService

    s = settings()
    u = UserService(Database.from_settings(s)).create(tenant or s.default_tenant, login, name, set(role), password,
                                                      tuple(skill))  # fmt: skip
    console.print(f"created {u.login} ({', '.join(sorted(u.roles))}) in tenant {u.tenant_id}, id {u.user_id}")


@user_app.command("list")
def user_list(tenant: str = typer.Option("", help="Tenant (default: tenant.default).")) -> None:
    """Staff accounts of a tenant."""
    from bot.storage.db import Database
    from bot.users import UserService

    s = settings()
    for u in UserService(Database.from_settings(s)).list(tenant or s.default_tenant):
        state = "active" if u.active else "disabled"
        console.print(f"{u.login}\t{u.name}\t{','.join(sorted(u.roles))}\t{','.join(u.skills)}\t{state}")


# --- train ---------------------------------------------------------------------------------------
def _train(s: Settings, force: bool) -> None:
    from bot import rasa_env

    if not force and rasa_env.model_is_current(s):
        console.print(f"model up to date: {rasa_env.model_path(s)}")
        return
    if not rasa_env.rasa_bin(s).exists():
        raise CsbotError(f"Rasa runtime missing at {rasa_env.rasa_bin(s)}; run `make setup`")
    s.models_dir.mkdir(parents=True, exist_ok=True)
    log = s.path("logs", "train.log")
    started = time.monotonic()
    with log.open("wb") as out, console.status("training the Rasa model…") as status:
        proc = subprocess.Popen(rasa_env.train_command(s), stdout=out, stderr=subprocess.STDOUT,
                                env=rasa_env.child_env(s), cwd=s.repo_root)  # fmt: skip
        while proc.poll() is None:
            status.update(f"training the Rasa model… {time.monotonic() - started:.0f}s (log: {log})")
            time.sleep(0.5)
    if proc.returncode != 0 or not rasa_env.model_path(s).is_file():
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise CsbotError("rasa train failed:\n" + "\n".join(tail))
    rasa_env.record_trained(s)
    console.print(f"trained {rasa_env.model_path(s)} in {time.monotonic() - started:.0f}s")


@app.command()
def train(force: bool = typer.Option(False, "--force", help="Retrain even if nothing changed.")) -> None:
    """Train the Rasa model if config, domain or data changed."""
    _train(settings(), force)


@app.command()
def setup() -> None:
    """Everything `run` needs that is missing: database schema and a current model."""
    from bot.rasa_env import prepare_tracker_store

    db_upgrade("head")
    prepare_tracker_store(settings())
    _train(settings(), force=False)


# --- run / status --------------------------------------------------------------------------------
@app.command()
def run(no_setup: bool = typer.Option(False, "--no-setup", help="Skip migrations and training.")) -> None:
    """Start the whole platform and supervise it until Ctrl-C."""
    from bot.cli.services import platform_specs
    from bot.cli.supervisor import Supervisor, pid_alive, read_status

    s = settings()
    previous = read_status(s.run_dir)
    if previous and not previous.get("stopped") and pid_alive(int(previous["supervisor_pid"])):
        raise CsbotError(f"csbot is already running in {s.home} (pid {previous['supervisor_pid']})")
    if not no_setup:
        setup()
    else:
        from bot.rasa_env import prepare_tracker_store

        prepare_tracker_store(s)
    sup = Supervisor(platform_specs(s), run_dir=s.run_dir, log_dir=s.home / "logs",
                     host=s.services.host, say=console.print)  # fmt: skip
    sup.check_ports()
    signal.signal(signal.SIGINT, sup.request_stop)
    signal.signal(signal.SIGTERM, sup.request_stop)
    started = time.monotonic()
    try:
        if sup.start_all():
            svc = s.services
            console.print(
                f"\n[bold green]csbot is up[/bold green] in {time.monotonic() - started:.1f}s  (home {s.home})\n"
                f"  REST channel   POST {svc.url('rasa')}/webhooks/rest/webhook  "
                '{"sender": "u1", "message": "你好"}\n'
                f"  web chat       {svc.url('rasa')}/webhooks/socketio/chat  (snippet: …/widget.js)\n"
                f"  agent inbox    {svc.url('handoff')}/inbox\n"
                f"  terminal chat  csbot chat\n"
                "Ctrl-C stops everything."
            )
            sup.run_forever()
        elif not sup.stopping:  # Ctrl-C during start-up is a normal stop, not a failure
            raise CsbotError("platform failed to start; logs are in " + str(s.home / "logs"))
    finally:
        console.print("stopping…")
        sup.stop_all()
        console.print("stopped.")


@app.command()
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Show whether the platform runs, each service's health, pid and restarts."""
    from bot.cli.supervisor import health_error, pid_alive, read_status
    from bot.rasa_env import rasa_api_headers

    s = settings()
    data = read_status(s.run_dir)
    running = bool(data and not data.get("stopped") and pid_alive(int(data["supervisor_pid"])))
    rows = []
    for name, info in (data or {}).get("services", {}).items():
        headers = rasa_api_headers(s) if name == "rasa" else None
        problem = health_error(info["health_url"], 2.0, headers) if running else "not running"
        rows.append({
            "name": name,
            "state": info["state"] if running else "stopped",
            "healthy": not problem,
            "problem": problem,
            "pid": info["pid"] if running else None,
            "restarts": info["restarts"],
            "last_exit": info["last_exit"],
        })
    if as_json:
        console.print_json(json.dumps({"running": running, "home": str(s.home), "services": rows}))
    else:
        from rich.table import Table

        console.print(f"csbot {'[green]running[/green]' if running else '[red]not running[/red]'} (home {s.home})")
        table = Table("service", "state", "health", "pid", "restarts", "last exit")
        for r in rows:
            health = "[green]ok[/green]" if r["healthy"] else f"[red]down[/red] {r['problem']}"
            table.add_row(r["name"], r["state"], health, str(r["pid"] or "-"), str(r["restarts"]),
                          "-" if r["last_exit"] is None else str(r["last_exit"]))  # fmt: skip
        if rows:
            console.print(table)
    if not running or not all(r["healthy"] for r in rows):
        raise typer.Exit(1)


@app.command()
def chat(customer: str = typer.Option("", help="Log in as this shop customer (e.g. u1001); default: anonymous."),
         sender: str = typer.Option("", help="Anonymous conversation id (default: a new one)."),
         url: str = typer.Option("", help="Rasa base URL (default from settings).")) -> None:  # fmt: skip
    """Talk to the running assistant in the terminal (REST channel), anonymous or as a demo-shop customer."""
    from bot.cli.chat import chat_loop
    from bot.identity import customer_token

    s = settings()
    token = customer_token(s, customer) if customer else None
    chat_loop(url or s.services.url("rasa"), sender, token, f"customer {customer}" if customer else "")


@app.command("customer-token")
def customer_token_cmd(customer: str, tenant: str = typer.Option("", help="Tenant (default: tenant.default)."),
                       minutes: int = typer.Option(60, help="Lifetime in minutes.")) -> None:  # fmt: skip
    """Print a customer token as the tenant's shop would sign it (demo shop / shared-secret tenants), for
    `curl -H "Authorization: Bearer $TOKEN"` against the REST channel."""
    from bot.identity import customer_token

    print(customer_token(settings(), customer, tenant or None, minutes))


def _register_plugins() -> None:
    for ep in entry_points(group="csbot.commands"):
        try:
            app.add_typer(ep.load(), name=ep.name)
        except Exception as exc:  # one broken feature package must not take the whole CLI down
            err.print(f"[yellow]warning: command group `{ep.name}` unavailable: {exc}[/yellow]")


def _lease_worker_id() -> None:
    """This process's Snowflake worker id, before any command opens a write transaction (on SQLite, a lease
    written from inside one waits for this very process's lock; see bot/ids.py).

    Only when the database is there and migrated: `--help`, `status` or `db upgrade` must work on a fresh home,
    an old schema or a database that is down. A command that creates the database itself (`csbot kb import` on
    a fresh home) leases lazily on its first new_id() instead, which on SQLite is safe only outside a write
    transaction: the knowledge service mints its first id (the live index version's) before its first write."""
    if len(sys.argv) < 2 or "--help" in sys.argv[1:]:
        return
    from pathlib import Path

    from bot.ids import ensure_worker

    try:
        s = load_settings()
        if s.database_url.startswith("sqlite:///") and not Path(s.database_url.removeprefix("sqlite:///")).is_file():
            return
        ensure_worker(s)
    except Exception:  # not leased now: a command that mints ids leases lazily and reports the problem
        return


def main() -> None:
    from bot.log_privacy import install_pii_filter

    install_pii_filter()  # commands log through the last-resort handler: PII masked there too
    _register_plugins()
    _lease_worker_id()
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        sys.exit(2)
    except CsbotError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
