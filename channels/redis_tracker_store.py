"""Rasa's Redis tracker store with each conversation sealed at rest (``tracker_store: {type: redis}``).

Rasa keeps a conversation as one JSON value per key; this store seals that value (AES-256-GCM,
``enc:v1:<key id>:<base64>``, bound to the sender id: ``bot.storage.sealed.TRACKER_EVENTS``) with the key from
the home's settings, and reads values written before sealing as they are. Runs in the Rasa server (Python 3.10).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from bot.crypto import SealError, cipher_from_settings
from bot.storage.sealed import TRACKER_EVENTS

log = logging.getLogger(__name__)


class SealedRedisTrackerStore(RedisTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from bot.settings import load_settings

        self.cipher = cipher_from_settings(load_settings())

    def serialise_tracker(self, tracker: DialogueStateTracker) -> str:  # type: ignore[override]
        return str(TRACKER_EVENTS.seal(self.cipher, super().serialise_tracker(tracker),
                                       {"sender_id": tracker.sender_id}))  # fmt: skip

    def deserialise_tracker(self, sender_id: str, serialised_tracker: str | bytes) -> DialogueStateTracker | None:
        raw = serialised_tracker.decode() if isinstance(serialised_tracker, bytes) else serialised_tracker
        try:
            raw = TRACKER_EVENTS.open(self.cipher, raw, {"sender_id": sender_id})
        except SealError as exc:  # its key was removed before the re-seal job moved it: start afresh
            log.error("a stored conversation does not open (%s); starting it afresh", exc)
            return self.init_tracker(sender_id)  # Rasa's save and retrieve expect a tracker here
        return super().deserialise_tracker(sender_id, raw)
