"""Serve an ASGI app on the host and the configured port of one platform service (``python -m <service>``)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from bot.ids import ensure_worker
from bot.lifeline import die_with_supervisor
from bot.settings import Settings, load_settings


def serve(create_app: Callable[[Settings], Any], service: str, log_level: str = "warning") -> None:
    import uvicorn

    die_with_supervisor()
    settings = load_settings()
    # The worker id before the app exists: leasing later, inside a write transaction, would wait on SQLite.
    ensure_worker(settings)
    port = getattr(settings.services, f"{service}_port")
    app = create_app(settings)
    # what the app loaded (models, indexes) lives as long as the process: full collections need not walk it
    # again and again (in the Rasa server this was a 100-370 ms stop every few seconds; channels.rasa_patches)
    gc.collect()
    gc.freeze()
    # keep-alive longer than the callers' pools idle (uvicorn's 5 s races clients reusing a connection)
    uvicorn.run(app, host=settings.services.host, port=port, log_level=log_level, timeout_keep_alive=65)
