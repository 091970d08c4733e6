"""``python -m handoff``: serve the handoff API on services.handoff_port."""

from __future__ import annotations

from bot.serve import serve
from handoff.app import create_app

if __name__ == "__main__":
    serve(create_app, "handoff", log_level="info")
