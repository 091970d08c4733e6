"""The stream at scale: Kafka through kafka-python (``events.type: kafka``).

``KafkaRelay`` moves the outboxes to Kafka (producer with ``acks=all`` and idempotence, one topic per kind,
keyed by conversation so a conversation stays on one partition, in order); it commits its outbox position only
after every send of a batch is acknowledged, so a relay killed mid-batch sends that batch again (the readers
write idempotently). ``KafkaStreamConsumer`` reads with manual commits: offsets are committed only after the
reader's own work is durable.

Options (``events:``): ``bootstrap_servers`` (list or comma-separated), ``topics`` ({kind: name}),
``client_options`` (extra kafka-python settings, e.g. security), ``session_timeout_ms``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata

from bot.events.stream import Record, topics
from bot.settings import Backend

log = logging.getLogger(__name__)


def _servers(backend: Backend) -> list[str]:
    raw = backend.get("bootstrap_servers") or "127.0.0.1:9092"
    return [s.strip() for s in (raw.split(",") if isinstance(raw, str) else raw) if s.strip()]


class KafkaStreamConsumer:
    def __init__(self, backend: Backend, group: str, topic_names: Sequence[str]) -> None:
        self.group = group
        self._consumer = KafkaConsumer(
            *topic_names, bootstrap_servers=_servers(backend), group_id=group, enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=int(backend.get("max_poll_records", 5000)),
            session_timeout_ms=int(backend.get("session_timeout_ms", 10_000)),
            heartbeat_interval_ms=int(backend.get("heartbeat_interval_ms", 2_000)),
            fetch_max_wait_ms=int(backend.get("fetch_max_wait_ms", 100)),
            **dict(backend.get("client_options") or {}),
        )  # fmt: skip
        self._polled: dict[TopicPartition, int] = {}

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        out = []
        for tp, messages in batches.items():
            for m in messages:
                out.append(Record(f"{tp.topic}/{tp.partition}", m.offset, (m.key or b"").decode(errors="replace"),
                                  m.value or b""))  # fmt: skip
                self._polled[tp] = m.offset
        return out

    def commit(self, records: Sequence[Record] = ()) -> None:
        if not self._polled:
            return
        offsets = {tp: OffsetAndMetadata(offset + 1, "", -1) for tp, offset in self._polled.items()}
        try:
            self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # the group rebalanced (a member came or went, the broker restarted): whoever owns these partitions
            # now reads from the last committed offset again; the reader's writes are idempotent, so that costs
            # a re-read, not a duplicate. Seek back so this member re-reads and commits in the new generation.
            log.warning("offsets not committed (%s); the batch will be read again", exc)
            self.rewind()
        self._polled.clear()

    def rewind(self) -> None:
        """Read again from the last committed offsets (a failed batch)."""
        for tp in list(self._polled):
            if tp not in self._consumer.assignment():
                continue  # another member owns it now and starts from the committed offset
            committed = self._consumer.committed(tp)
            self._consumer.seek(tp, committed if committed is not None else 0)
        self._polled.clear()

    def lag(self) -> int | None:
        parts = self._consumer.assignment()
        if not parts:
            return None
        ends = self._consumer.end_offsets(list(parts))
        return sum(max(0, ends[tp] - self._consumer.position(tp)) for tp in parts)

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class KafkaRelay:
    """Outboxes → Kafka. One relay per deployment is enough; two are safe (both may send a batch: at least once)."""

    GROUP = "kafka-relay"

    def __init__(self, settings: Any, batch: int = 5000) -> None:
        from bot.events.stream.sql import OutboxConsumer

        backend = settings.backend("events")
        self.topics = topics(settings)
        self.batch = batch
        self.outbox = OutboxConsumer.from_settings(settings, self.GROUP, tuple(self.topics))
        self.producer = KafkaProducer(
            bootstrap_servers=_servers(backend), acks="all", enable_idempotence=True, linger_ms=5,
            max_in_flight_requests_per_connection=5, retries=2**31 - 1, request_timeout_ms=10_000,
            batch_size=256 * 1024, **dict(backend.get("client_options") or {}),
        )  # fmt: skip
        self.keep_seconds = float(backend.get("outbox_keep_seconds", 3600))
        self._last_purge = 0.0

    def run_once(self, timeout: float = 0.5) -> int:
        records = self.outbox.poll(self.batch, timeout)
        if not records:
            return 0
        futures = []
        for r in records:
            topic = self.topics.get(r.kind, self.topics["message"])  # an unknown kind goes where readers park it
            futures.append(self.producer.send(topic, key=r.key.encode(), value=r.value))
        self.producer.flush(timeout=30)
        for f in futures:
            f.get(timeout=30)  # raises if any send failed: the batch is not committed and goes again
        self.outbox.commit(records)
        if time.monotonic() - self._last_purge > 60:
            self._last_purge = time.monotonic()
            self.outbox.purge(self.keep_seconds)
        return len(records)

    def close(self) -> None:
        self.producer.close(timeout=5)
        self.outbox.close()
