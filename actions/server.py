"""The action server (``python -m actions.server``): rasa-sdk's app, closed to everyone but the Rasa server.

``python -m rasa_sdk`` listens on 0.0.0.0 without authentication and forks Sanic worker processes. This one
serves the same app on ``services.host`` (127.0.0.1 by default) in one process, and answers every route but
``/health`` only with ``Authorization: Bearer <key>``; the key is derived from the home's secret and written
into the Rasa server's endpoints.yml (``bot.rasa_env``).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import tracing
from bot.logs import configure_logging
from bot.observe_sanic import instrument
from bot.settings import Settings, home_secret, load_settings

MAX_BODY_BYTES = 4 * 1024 * 1024  # a tracker of a long conversation; Rasa sends the whole thing


def api_key(settings: Settings) -> str:
    return home_secret(settings, "actions-api")


def build_app(settings: Settings) -> Sanic:
    executor = ActionExecutor()
    executor.register_package("actions")
    _trace_actions(executor)
    app = create_app(executor, cors_origins=[])
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    instrument(app, "actions", settings)  # before the key check: its middleware must run first
    expected = f"Bearer {api_key(settings)}".encode()

    @app.on_request
    async def authenticate(request: Request) -> HTTPResponse | None:
        if request.path == "/health":
            return None
        given = (request.headers.get("authorization") or "").encode()
        if not hmac.compare_digest(given, expected):
            return response.json({"error": "missing or wrong bearer token"}, status=401)
        return None

    return app


def _trace_actions(executor: ActionExecutor) -> None:
    """Each action run in its own span (``action <name>``) under the request's, when tracing is on."""
    run = executor.run

    async def traced(action_call: dict[str, Any]) -> Any:
        with tracing.span(f"action {action_call.get('next_action')}"):
            return await run(action_call)

    executor.run = traced  # type: ignore[method-assign]


def main() -> None:
    from bot.lifeline import die_with_supervisor

    die_with_supervisor()
    settings = load_settings()
    from bot.ids import ensure_worker

    ensure_worker(settings)
    configure_logging("actions", logging.WARNING)
    app = build_app(settings)
    import gc

    gc.collect()
    gc.freeze()  # what the app loaded lives as long as the process: full collections skip it (bot.serve)
    app.run(host=settings.services.host, port=settings.services.actions_port,
                            single_process=True, access_log=False, motd=False)  # fmt: skip


if __name__ == "__main__":
    main()
