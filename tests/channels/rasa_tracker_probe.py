"""Run by tests/channels/test_tracker_sealing.py in the Rasa venv (Python 3.10, SQLAlchemy 1.4): saves a
conversation through the tracker store named in the JSON argument and prints what it reads back.

Usage: .venv-rasa/bin/python tests/channels/rasa_tracker_probe.py '{"store": {...}, "sender": "...", "lines": [...]}'
"""

from __future__ import annotations

import asyncio
import json
import sys

from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

DOMAIN = Domain.from_dict({"slots": {"phone": {"type": "text", "mappings": [{"type": "custom"}]}},
                           "intents": ["inform"]})  # fmt: skip


async def main(args: dict) -> dict:
    store = TrackerStore.create(EndpointConfig.from_dict(args["store"]), DOMAIN)
    sender = args["sender"]
    tracker = await store.retrieve(sender) or DialogueStateTracker(sender, DOMAIN.slots)
    for i, text in enumerate(args["lines"]):
        tracker.update(UserUttered(text, {"name": "inform", "confidence": 1.0}, timestamp=1000.0 + i))
        if i == 0:
            tracker.update(SlotSet("phone", args.get("slot"), timestamp=1000.5))
        tracker.update(BotUttered(f"收到：{text}", timestamp=1000.7 + i))
        await store.save(tracker)
    again = await store.retrieve(sender)
    full = await store.retrieve_full_tracker(sender)
    return {"type": type(store).__name__,
            "users": [e.text for e in again.events if isinstance(e, UserUttered)],
            "slot": again.get_slot("phone"),
            "full_users": [e.text for e in full.events if isinstance(e, UserUttered)]}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1]))), ensure_ascii=False))
