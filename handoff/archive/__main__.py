"""``python -m handoff.archive``: the archiver (and, on Kafka, the outbox relay), /health on services.archive_port."""

from __future__ import annotations

from bot.serve import serve
from handoff.archive.app import create_app

if __name__ == "__main__":
    serve(create_app, "archive", log_level="warning")
