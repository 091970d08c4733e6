"""The Rasa side of the platform: where its runtime lives, its endpoints file, and model training.

Rasa 3.6 runs in its own Python 3.10 venv (``.venv-rasa``); this module only builds command lines and
files for it and never imports rasa.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml

from bot.settings import Settings, home_secret

MODEL_NAME = "csbot"
WINDOWED_SQL_STORE = "channels.tracker_store.WindowedSQLTrackerStore"
SEALED_REDIS_STORE = "channels.redis_tracker_store.SealedRedisTrackerStore"  # conversations sealed at rest
ATOMIC_REDIS_LOCK_STORE = "channels.lock_store.AtomicRedisLockStore"
HANDOFF_BROKER = "channels.event_broker.HandoffEventBroker"
TRAINING_INPUTS = ("config.yml", "domain.yml", "data")


def rasa_bin(settings: Settings) -> Path:
    return settings.repo_root / ".venv-rasa" / "bin" / "rasa"


def app_python(settings: Settings) -> Path:
    return settings.repo_root / ".venv" / "bin" / "python"


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["CSBOT_HOME"] = str(settings.home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.repo_root), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")  # no phoning home (the machine has no network anyway)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def training_fingerprint(repo_root: Path) -> str:
    """Hash of everything `rasa train` reads, so `make run` retrains only when designers changed something."""
    h = hashlib.sha256()
    for name in TRAINING_INPUTS:
        root = repo_root / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            if f.is_file():
                h.update(str(f.relative_to(repo_root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def model_path(settings: Settings) -> Path:
    return settings.models_dir / f"{MODEL_NAME}.tar.gz"


def model_is_current(settings: Settings) -> bool:
    fp = settings.models_dir / f"{MODEL_NAME}.fingerprint"
    return (
        model_path(settings).is_file()
        and fp.is_file()
        and fp.read_text().strip() == training_fingerprint(settings.repo_root)
    )


def train_command(settings: Settings) -> list[str]:
    return [
        str(rasa_bin(settings)), "train",
        "--config", str(settings.repo_root / "config.yml"),
        "--domain", str(settings.repo_root / "domain.yml"),
        "--data", str(settings.repo_root / "data"),
        "--out", str(settings.models_dir),
        "--fixed-model-name", MODEL_NAME,
    ]  # fmt: skip


def record_trained(settings: Settings) -> None:
    (settings.models_dir / f"{MODEL_NAME}.fingerprint").write_text(training_fingerprint(settings.repo_root))


def tracker_store_url(settings: Settings) -> str | None:
    """The SQL tracker store URL: `tracker_store.url`, else the csbot database when that is a server."""
    b = settings.backend("tracker_store")
    if b.type != "sql":
        return None
    url = b.get("url")
    if not url and not settings.database_url.startswith("sqlite"):
        url = settings.database_url
    return str(url) if url else None


def prepare_tracker_store(settings: Settings) -> None:
    """Create Rasa's `events` table before Rasa does, with a DOUBLE timestamp.

    Rasa 3.6 declares `events.timestamp` as Float, which MySQL/MariaDB create as 4-byte FLOAT (~2 minutes of
    resolution at today's epoch): session expiry and event order break. An existing FLOAT column is altered.
    """
    url = tracker_store_url(settings)
    if not url:
        return
    from sqlalchemy import Column, Double, Integer, MetaData, String, Table, Text, create_engine, text
    from sqlalchemy.dialects import mysql

    engine = create_engine(url)
    try:
        if engine.dialect.name not in ("mysql", "mariadb"):
            return
        md = MetaData()
        Table(
            "events", md,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("sender_id", String(255), nullable=False, index=True),
            Column("type_name", String(255), nullable=False),
            Column("timestamp", Double),
            Column("intent_name", String(255)),
            Column("action_name", String(255)),
            Column("data", Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")),
        )  # fmt: skip
        md.create_all(engine)
        with engine.begin() as conn:
            kind = conn.execute(text(
                "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'events' AND COLUMN_NAME = 'timestamp'"
            )).scalar()  # fmt: skip
            if kind and kind.lower() == "float":
                conn.execute(text("ALTER TABLE events MODIFY `timestamp` DOUBLE"))
            version = str(conn.execute(text("SELECT VERSION()")).scalar()).lower()
            if "mariadb" in version:
                # Rasa's SQLAlchemy 1.4 takes ids from the sequence `events_seq` on MariaDB; it is created with the
                # table only when Rasa creates the table itself. Without it Rasa silently falls back to memory.
                start = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1 FROM events")).scalar() or 1)
                conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS events_seq START WITH {start}"))
    finally:
        engine.dispose()


def tracker_store_config(settings: Settings) -> dict[str, Any]:
    b = settings.backend("tracker_store")
    if b.type == "sql":
        # Our windowed subclass of Rasa's SQL store: constant work per message in long chats (channels/).
        windowed = {"type": WINDOWED_SQL_STORE, "window_turns": int(b.get("window_turns", 20)),
                    # every stored line goes to the outbox in the tracker's own transaction (the archive's source)
                    "outbox": bool((settings.raw.get("archive") or {}).get("enabled", True))}
        url = tracker_store_url(settings)
        if not url:
            return {**windowed, "dialect": "sqlite", "db": str(settings.home / "rasa_trackers.db")}
        # Rasa wants the URL split into parts; `url:` (not `host:`) for MySQL (see platform-facts).
        from sqlalchemy.engine import make_url

        u = make_url(url)
        conf: dict[str, Any] = {**windowed, "dialect": u.drivername, "url": u.host, "db": u.database}
        if u.query:
            conf["query"] = dict(u.query)
        if u.port:
            conf["port"] = u.port
        if u.username:
            conf["username"] = u.username
        if u.password:
            conf["password"] = u.password
        return conf
    if b.type == "redis":
        return {"type": SEALED_REDIS_STORE, **_redis_options(b.options, default_db=0)}
    return {"type": b.type, **dict(b.options)}


def _redis_options(options: Any, default_db: int) -> dict[str, Any]:
    """Rasa's Redis stores take host/port/db separately; csbot also accepts `url: redis://host:port/db`."""
    out: dict[str, Any] = {"url": "127.0.0.1", "port": 6379, "db": default_db, "key_prefix": "csbot"}
    url = options.get("url")
    if url and "://" in str(url):
        from urllib.parse import urlparse

        u = urlparse(str(url))
        out.update(url=u.hostname or "127.0.0.1", port=u.port or 6379)
        if u.path.strip("/").isdigit():
            out["db"] = int(u.path.strip("/"))
        if u.password:
            out["password"] = u.password
    for key in ("host", "port", "db", "password", "key_prefix", "record_exp"):
        if options.get(key) is not None:
            out["url" if key == "host" else key] = options[key]
    return out


def lock_store_config(settings: Settings) -> dict[str, Any]:
    b = settings.backend("lock_store")
    if b.type == "redis":
        # Rasa's own RedisLockStore races across instances (channels/lock_store.py); ours is atomic.
        return {"type": ATOMIC_REDIS_LOCK_STORE, **_redis_options(b.options, default_db=1)}
    return {"type": b.type, **dict(b.options)}


def rasa_api_secret(settings: Settings) -> str:
    """The key of the Rasa server's HTTP API (its ``--jwt-secret``), derived from the home's secret."""
    return home_secret(settings, "rasa-api")


def rasa_api_headers(settings: Settings, ttl_seconds: int = 300) -> dict[str, str]:
    """``Authorization`` for the Rasa HTTP API: a short-lived admin JWT (the claims Rasa's sanic-jwt reads)."""
    import datetime as dt

    import jwt

    now = dt.datetime.now(dt.timezone.utc)
    claims = {"user": {"username": "csbot", "role": "admin"}, "username": "csbot", "iat": now,
              "exp": now + dt.timedelta(seconds=ttl_seconds)}  # fmt: skip
    return {"Authorization": f"Bearer {jwt.encode(claims, rasa_api_secret(settings), algorithm='HS256')}"}


def actions_api_key(settings: Settings) -> str:
    """What the action server (``actions/server.py``) expects from the Rasa server."""
    return home_secret(settings, "actions-api")


def render_endpoints(settings: Settings) -> Path:
    """Write $CSBOT_HOME/endpoints.yml for the supervised Rasa server from the csbot settings (mode 0600: it
    holds the action server's key)."""
    conf = {
        "action_endpoint": {"url": f"{settings.services.url('actions')}/webhook",
                            "headers": {"Authorization": f"Bearer {actions_api_key(settings)}"}},
        "tracker_store": tracker_store_config(settings),
        "lock_store": lock_store_config(settings),
        # what customers say reaches the agent handling their conversation (channels/event_broker.py)
        "event_broker": {"type": HANDOFF_BROKER, "url": settings.services.url("handoff")},
    }
    out = settings.path("endpoints.yml")
    out.touch(mode=0o600)
    out.chmod(0o600)
    out.write_text(yaml.safe_dump(conf, allow_unicode=True, sort_keys=False))
    return out


def rasa_python(settings: Settings) -> Path:
    return settings.repo_root / ".venv-rasa" / "bin" / "python"


def server_command(settings: Settings, endpoints: Path, model: Path | None = None) -> list[str]:
    """``rasa run`` through ``channels.server``, which adds the API's JWT secret (kept off the command line)."""
    return [
        str(rasa_python(settings)), "-m", "channels.server",
        "--enable-api",
        "--model", str(model or model_path(settings)),
        "--endpoints", str(endpoints),
        "--credentials", str(settings.repo_root / "credentials.yml"),
        "--interface", settings.services.host,
        "--port", str(settings.services.rasa_port),
    ]  # fmt: skip
