"""Measured fixes for Rasa 3.6 hot paths, applied when the Rasa server imports our channels.

Rasa 3.6 validates every action-server response with ``jsonschema.validate(result, schema)``, which
re-validates the *schema itself* against the Draft 2020-12 meta-schema on every call: 14.5 ms of a
~32 ms action turn on this machine (py-spy), versus 0.4 ms with a validator built once. The patch keeps
the exact validation (same schema, same error message) and only caches the compiled validator. The HTTP
API's event routes (``POST /conversations/{id}/tracker/events``, which carries every agent line of a handoff)
do the same with the events schema: 58% of the Rasa process's CPU with 50 chats relaying (py-spy); the same
cache applies. Loading a tracker resolves each stored event's class by walking every subclass of ``Event``
(``Event.resolve_by_type`` → ``all_subclasses``, with ``inspect.isabstract`` on each): 13% of that CPU;
the class found for a type name is now remembered.

The embedded SQLite tracker store commits twice per message with SQLite's default rollback journal and
full fsync: ~24% of a turn. WAL with synchronous=NORMAL keeps every committed turn across a process
crash (only an OS crash can lose the last commits) and is what the csbot database itself uses.

Once the model is loaded, the objects alive (the model, TensorFlow, spaCy-sized tables: ~600 MB) are moved out
of the garbage collector's reach with ``gc.freeze()``: every full collection walked them all, a 100–370 ms stop
of the event loop every few seconds under load (measured with ``gc.callbacks``: the p99 of relayed lines).
"""

from __future__ import annotations

import functools
from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    try:
        from jsonschema import ValidationError
        from jsonschema.validators import validator_for
        from rasa.core.actions.action import RemoteAction
        from rasa.shared.constants import DOCS_BASE_URL
    except ImportError:  # not inside the Rasa runtime (e.g. the 3.11 test environment)
        return

    @functools.lru_cache(maxsize=1)
    def validator() -> Any:
        spec = RemoteAction.action_response_format_spec()
        cls = validator_for(spec)
        cls.check_schema(spec)  # once, instead of once per action call
        return cls(spec)

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validator().validate(result)
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your response from the Action "
                f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _events_validation()
    _event_types()
    _sqlite_wal()
    _applied = True


def _events_validation() -> None:
    import rasa.server as server
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.shared.utils.schemas.events import EVENTS_SCHEMA  # what rasa.server validates against

    cls = validator_for(EVENTS_SCHEMA)
    cls.check_schema(EVENTS_SCHEMA)
    events_validator = cls(EVENTS_SCHEMA)
    original = server.validate_events_in_request_body

    def validate_events_in_request_body(request: Any) -> None:
        events = request.json if isinstance(request.json, list) else [request.json]
        try:
            events_validator.validate(events)
        except ValidationError:  # the original builds Rasa's own 400 with its message
            original(request)

    server.validate_events_in_request_body = validate_events_in_request_body


def _event_types() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is None:
            cls = original(type_name, default)  # unknown: the default, None for the legacy "topic", or an error
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]


def freeze_after_load() -> None:
    """Wrap ``rasa.core.run.load_agent_on_start`` (Rasa's own start-up listener) to freeze what it loaded."""
    import gc

    import rasa.core.run as run

    original = run.load_agent_on_start

    async def load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
        agent = await original(*args, **kwargs)
        gc.collect()
        gc.freeze()  # what is alive now lives as long as the process: full collections skip it
        return agent

    run.load_agent_on_start = load_agent_on_start


def _sqlite_wal() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        if type(dbapi_conn).__module__.startswith("sqlite3"):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # persistent in the file; cheap once it is set
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
