"""``python -m handoff``: serve the handoff API on services.handoff_port."""

from __future__ import annotations

import uvicorn

from bot.settings import load_settings
from handoff.app import create_app


def main() -> None:
    settings = load_settings()
    uvicorn.run(create_app(settings), host=settings.services.host, port=settings.services.handoff_port,
                log_level="info")  # fmt: skip


if __name__ == "__main__":
    main()
