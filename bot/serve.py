"""Serve an ASGI app on the host and the configured port of one platform service (``python -m <service>``)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from bot.ids import ensure_worker
from bot.lifeline import die_with_supervisor
from bot.logs import configure_logging
from bot.observe import instrument
from bot.settings import Settings, load_settings


def serve(create_app: Callable[[Settings], Any], service: str, log_level: str = "warning") -> None:
    import uvicorn

    die_with_supervisor()
    configure_logging(service)
    settings = load_settings()
    # The worker id before the app exists: leasing later, inside a write transaction, would wait on SQLite.
    ensure_worker(settings)
    port = getattr(settings.services, f"{service}_port")
    app = instrument(create_app(settings), service, settings)  # /metrics, request ids, traces
    # what the app loaded (models, indexes) lives as long as the process: full collections need not walk it
    # again and again (in the Rasa server this was a 100-370 ms stop every few seconds; channels.rasa_patches)
    gc.collect()
    gc.freeze()
    # keep-alive longer than the callers' pools idle (uvicorn's 5 s races clients reusing a connection)
    # log_config=None: uvicorn's loggers write through configure_logging's handler (request ids, filters)
    uvicorn.run(app, host=settings.services.host, port=port, log_level=log_level, timeout_keep_alive=65,
                log_config=None)
