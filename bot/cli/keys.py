"""``csbot keys``: the keys data is sealed with at rest (``encryption:``, ``bot.crypto``).

Rotating: ``csbot keys new`` prints a key to add to ``encryption.keys`` with ``key_id`` pointing at it; once the
services run with it (new data is sealed under it), ``csbot keys rotate`` re-seals what older keys sealed, and
``csbot keys status`` shows when an old key seals nothing any more and can be removed.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bot.settings import Settings, load_settings

console = Console()
keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys at rest: status, a new key, rotation.")


def _engines(s: Settings) -> dict[str, Any]:
    """The databases holding sealed rows: the platform's, and Rasa's tracker database when it is another one
    (skipped while it does not exist yet)."""
    from pathlib import Path

    from bot.events.stream import outbox_sources
    from bot.storage.db import make_engine

    out = {}
    for name, url in outbox_sources(s).items():
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
            continue
        out[name] = make_engine(url)
    return out


def _redis(s: Settings) -> tuple[Any, str] | None:
    """The Redis tracker store's client and key prefix, when conversations live there."""
    if s.backend("tracker_store").type != "redis":
        return None
    import redis

    from bot.rasa_env import tracker_store_config

    conf = tracker_store_config(s)
    client = redis.Redis(host=str(conf["url"]), port=int(conf["port"]), db=int(conf["db"]),
                         password=conf.get("password"), decode_responses=True, socket_timeout=10)  # fmt: skip
    kp = str(conf.get("key_prefix") or "")
    return client, (f"{kp}:tracker:" if kp.isalnum() else "tracker:")  # as Rasa's RedisTrackerStore names keys


def _show(tallies: list[Any], current: str, resealed: bool) -> None:
    from bot.storage.reseal import PLAIN, UNKNOWN

    t = Table("store", "database", "rows per key", *(("re-sealed", "did not open") if resealed else ()))
    for x in tallies:
        per_key = ", ".join(f"{k}{'*' if k == current else ''}: {n}" for k, n in sorted(x.keys.items())) or "-"
        t.add_row(x.store, x.database, per_key, *((str(x.resealed), str(x.failed)) if resealed else ()))
    console.print(t)
    console.print(f"* the current key (encryption.key_id). {PLAIN}: written before sealing; {UNKNOWN}: sealed under "
                  "a key not configured here")  # fmt: skip


def _advise(tallies: list[Any], keys: list[str], current: str) -> None:
    used = {k for x in tallies for k, n in x.keys.items() if n}
    unused = [k for k in keys if k != current and k not in used]
    if unused:
        console.print(f"nothing is sealed under {', '.join(unused)}: it can be removed from encryption.keys "
                      "(h1, the key derived from the home's secret: encryption.derived_key: false)")  # fmt: skip


@keys_app.command("status")
def keys_status(as_json: bool = typer.Option(False, "--json", help="One JSON object per store.")) -> None:
    """Sealed rows per key id in every store (and rows still plain)."""
    from bot.crypto import cipher_from_settings
    from bot.storage.reseal import status

    s = load_settings()
    cipher = cipher_from_settings(s)
    engines = _engines(s)
    try:
        tallies = status(engines, cipher, _redis(s))
    finally:
        for e in engines.values():
            e.dispose()
    if as_json:
        import json

        for t in tallies:
            print(json.dumps({"store": t.store, "database": t.database, "keys": t.keys}, ensure_ascii=False))
        return
    _show(tallies, cipher.key_id, resealed=False)
    _advise(tallies, list(cipher.keys), cipher.key_id)


@keys_app.command("new")
def keys_new(key_id: str = typer.Option("", help="Id of the new key (default: the next free kN).")) -> None:
    """Print a fresh key and the settings that make it the current one."""
    from bot.crypto import KEY_ID, cipher_from_settings, new_key

    have = set(cipher_from_settings(load_settings()).keys)
    key_id = key_id or next(f"k{n}" for n in range(1, 10_000) if f"k{n}" not in have)
    if not KEY_ID.fullmatch(key_id) or key_id in have:
        console.print(f"[red]{key_id!r}: a new key id is 1-16 of a-z A-Z 0-9 _ - and not in use[/red]")
        raise typer.Exit(2)
    print(f"# csbot.yml: new data is sealed under {key_id} once the services restart; keep every older key\n"
          f"# listed until `csbot keys rotate` has moved its rows (then `csbot keys status`)\n"
          f"encryption:\n  key_id: {key_id}\n  keys:\n    {key_id}: {new_key()}")  # plain: a wrapped key breaks


@keys_app.command("rotate")
def keys_rotate(batch: int = typer.Option(1000, min=1, max=50_000, help="Rows per transaction.")) -> None:
    """Re-seal every row sealed under an older key (or still plain) under the current key, in batches; safe to
    interrupt and run again. Each finished store is written to the audit log."""
    from bot.audit import audit
    from bot.crypto import cipher_from_settings
    from bot.storage.db import Database
    from bot.storage.reseal import reseal

    s = load_settings()
    cipher = cipher_from_settings(s)
    db = Database.from_settings(s)
    engines = _engines(s)

    def record(t: Any) -> None:
        console.print(f"{t.store} ({t.database}): re-sealed {t.resealed}, did not open {t.failed}")
        with db.session() as session:
            audit(session, s.default_tenant, "encryption.reseal", "encryption", cipher.key_id,
                  {"store": t.store, "database": t.database, "resealed": t.resealed, "failed": t.failed,
                   "keys": t.keys}, actor_role="cli")  # fmt: skip

    try:
        tallies = reseal(engines, cipher, batch, _redis(s), record)
    finally:
        for e in engines.values():
            e.dispose()
        db.dispose()
    _show(tallies, cipher.key_id, resealed=True)
    _advise(tallies, list(cipher.keys), cipher.key_id)
    if any(t.failed for t in tallies):
        console.print("[red]some rows did not open (their key is no longer configured); they were left as they "
                      "are[/red]")  # fmt: skip
        raise typer.Exit(1)
