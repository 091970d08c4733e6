"""Privacy requests over every store of the platform (``bot.privacy`` is the service; this package adds the
stores of the handoff, the archive, the search index and the knowledge base, and lists them all in erase order).

Order matters only where one store holds what another needs: the outbox first (so the archiver and the indexer
never write back what is erased), the files before the records that link to them are gone (they are found in
the export before anything is erased), tickets before the sessions that find some of them, sessions before the
customer's own account row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.crypto import cipher_from_settings
from bot.privacy.base import PersonalData
from bot.privacy.files import FilesStore
from bot.privacy.service import PrivacyService
from bot.privacy.stores.accounts import AccountStore
from bot.privacy.stores.incidents import SafetyIncidents
from bot.privacy.stores.outbox import OutboxStore
from bot.privacy.stores.parked import ParkedStore
from bot.storage.db import Database, make_engine

log = logging.getLogger(__name__)


def _trackers(settings: Any, cipher: Any) -> PersonalData | None:
    from bot.privacy.stores.trackers import RedisTrackers, SqlTrackers
    from bot.rasa_env import tracker_store_config, tracker_store_url

    kind = settings.backend("tracker_store").type
    if kind == "sql":
        url = tracker_store_url(settings) or f"sqlite:///{settings.home / 'rasa_trackers.db'}"
        return SqlTrackers(make_engine(url), cipher, settings.default_tenant)
    if kind == "redis":
        return RedisTrackers.from_config(tracker_store_config(settings), settings.default_tenant, cipher)
    log.warning("tracker_store.type %s: privacy requests cannot reach its trackers", kind)
    return None


def stores(settings: Any, db: Database, index: Any = None, live: Any = None) -> list[PersonalData]:
    from bot.events.stream import outbox_sources
    from bot.files import create_file_store
    from handoff.live import create_live
    from handoff.privacy.archive import ArchiveStore
    from handoff.privacy.handoff_data import HandoffStore, LeftMessageStore
    from handoff.privacy.knowledge import LowConfidenceStore
    from handoff.privacy.search import SearchStore
    from handoff.privacy.tickets import TicketStore

    cipher = cipher_from_settings(settings)
    out: list[PersonalData | None] = [
        OutboxStore({name: make_engine(url) for name, url in outbox_sources(settings).items()}, cipher),
        FilesStore(create_file_store(settings.backend("files"), settings.home)),
        SearchStore(settings, index),
        ArchiveStore(db, cipher),
        _trackers(settings, cipher),
        TicketStore(db),
        HandoffStore(db, live if live is not None else create_live(settings.backend("presence"))),
        LeftMessageStore(db),
        LowConfidenceStore(db),
        AccountStore(db),
        ParkedStore(db, settings.default_tenant),
        SafetyIncidents(db),
    ]  # fmt: skip
    if settings.backend("rate_limit").type == "redis":
        from bot.privacy.stores.ratelimits import RateLimitKeys

        out.append(RateLimitKeys.from_options(settings.backend("rate_limit").options))
    return [s for s in out if s is not None]


def build_service(settings: Any, db: Database | None = None, index: Any = None, live: Any = None,
                  clock: Callable[[], float] = time.time) -> PrivacyService:  # fmt: skip
    """The privacy service over every store ``settings`` configures. ``index``: the archive process's own message
    index handle; ``live``: the handoff service's live sessions (others create their own)."""
    own = db is None
    db = db or Database.from_settings(settings)
    return PrivacyService(db, stores(settings, db, index, live), clock, owns_db=own)
