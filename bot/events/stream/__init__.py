"""Reading the stream: a consumer per reader group, over the outbox tables (``events.type: sql``, the
embedded default) or Kafka (``events.type: kafka``).

A consumer hands out records in order per conversation and remembers how far its group got only when told
(:meth:`Consumer.commit`), after the reader's own work is durable: a reader that dies mid-batch reads that
batch again, so readers write idempotently (the archive by ``msg_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.settings import Settings

DEFAULT_TOPICS = {"message": "chat.msg", "session": "chat.session", "ticket": "chat.ticket"}


@dataclass(frozen=True)
class Record:
    source: str  # an outbox ("platform", "trackers") or a Kafka topic/partition
    position: int  # the outbox seq or the Kafka offset
    key: str
    value: bytes
    kind: str = ""  # known without parsing on the outbox; empty from Kafka (one topic per kind)


class Consumer(Protocol):
    group: str

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records after the group's position, waiting up to ``timeout`` s for the first."""
        ...

    def commit(self, records: Sequence[Record]) -> None:
        """The group has durably handled ``records`` (and everything before them in their sources)."""
        ...

    def lag(self) -> int | None:
        """Records not yet committed, where the backend can tell cheaply."""
        ...

    def close(self) -> None: ...


def outbox_sources(settings: Settings) -> dict[str, str]:
    """The databases holding an outbox: the platform's, and Rasa's tracker database when it is another one
    (the tracker store appends each stored line there, in the same transaction as the tracker)."""
    from bot.rasa_env import tracker_store_url

    sources = {"platform": settings.database_url}
    if settings.backend("tracker_store").type == "sql":
        trackers = tracker_store_url(settings) or f"sqlite:///{settings.home / 'rasa_trackers.db'}"
        if trackers != settings.database_url:
            sources["trackers"] = trackers
    return sources


def topics(settings: Settings) -> dict[str, str]:
    return {**DEFAULT_TOPICS, **dict(settings.backend("events").get("topics") or {})}


def create_consumer(settings: Settings, group: str, kinds: Sequence[str] = ("message",)) -> Consumer:
    """The stream of ``kinds`` for reader group ``group``, from the configured backend."""
    backend = settings.backend("events")
    if backend.type == "kafka":
        from bot.events.stream.kafka import KafkaStreamConsumer

        names = topics(settings)
        return KafkaStreamConsumer(backend, group, [names[k] for k in kinds])
    from bot.events.stream.sql import OutboxConsumer

    return OutboxConsumer.from_settings(settings, group, kinds)
