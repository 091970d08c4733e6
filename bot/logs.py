"""Logging for every platform process, set up in one place: ``configure_logging(service)``.

Each line carries the service name and the id of the request it belongs to (``request_id``, a contextvar set
by the HTTP middleware from a validated ``X-Request-Id`` header or minted), so one customer message can be
followed through the Rasa server, the action server, knowledge and handoff. Filters that rewrite or drop log
records (PII masking) go in ``log_filters()``: they sit on the one handler, so they see every record.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from contextvars import ContextVar

from bot.log_privacy import PiiFilter

REQUEST_ID_HEADER = "X-Request-Id"
FORMAT = "%(asctime)s %(levelname)-7s %(service)s [%(request_id)s] %(name)s: %(message)s"
# short and safe: it is written into every log line and echoed in a response header
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id: ContextVar[str] = ContextVar("request_id", default="-")
_service = "csbot"


def new_request_id() -> str:
    return secrets.token_hex(8)


def valid_request_id(value: str | None) -> str | None:
    """``value`` when it is a usable request id (1–64 of ``A-Za-z0-9._:-``), else None."""
    return value if value and _VALID.fullmatch(value) else None


def accept_request_id(header: str | None) -> str:
    """The caller's id when valid, else a new one; set as the current request's id and returned."""
    rid = valid_request_id(header) or new_request_id()
    request_id.set(rid)
    return rid


def current_request_id() -> str | None:
    rid = request_id.get()
    return None if rid == "-" else rid


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id and the service (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.service = _service
        return True


def log_filters() -> list[logging.Filter]:
    """Every filter the platform's log handler applies, in order."""
    return [RequestIdFilter(), PiiFilter()]


def configure_logging(service: str, level: int | str | None = logging.WARNING) -> logging.Handler:
    """One stderr handler on the root logger with the platform format and filters; replaces the handlers
    others installed (uvicorn's, Sanic's, Rasa's coloredlogs) so every line has the same shape.
    ``level=None`` keeps the levels already set (the Rasa server's, from ``--debug``/``--verbose``): the root
    logger's, and the replaced handler's on the new one."""
    global _service
    _service = service
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    for f in log_filters():
        handler.addFilter(f)
    root = logging.getLogger()
    for old in list(root.handlers):
        if level is None and old.level > handler.level:
            handler.setLevel(old.level)  # the level a replaced handler let through (Rasa's coloredlogs: INFO)
        root.removeHandler(old)
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    # servers' own loggers keep their levels but write through this handler
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sanic.root", "sanic.error", "sanic.access",
                 "sanic.server", "rasa", "rasa_sdk"):  # fmt: skip
        lg = logging.getLogger(name)
        for old in list(lg.handlers):
            lg.removeHandler(old)
        lg.propagate = True
    return handler
