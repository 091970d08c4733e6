"""The stream at scale: Kafka through kafka-python (``events.type: kafka``).

``KafkaRelay`` moves the outboxes to Kafka (producer with ``acks=all`` and idempotence, one topic per kind,
keyed by conversation so a conversation stays on one partition, in order); it commits its outbox position only
after every send of a batch is acknowledged, so a relay killed mid-batch sends that batch again (the readers
write idempotently). ``KafkaStreamConsumer`` reads with manual commits: offsets are committed only after the
reader's own work is durable.

Options (``events:``): ``bootstrap_servers`` (list or comma-separated), ``topics`` ({kind: name}),
``client_options`` (extra kafka-python settings, e.g. security), ``session_timeout_ms``, ``instance_id``.

``instance_id`` turns on Kafka's static membership (``group.instance.id``): give each reader process a stable name
(its host name under compose, a StatefulSet pod's name) and a restarted process takes its partitions back at once,
without a rebalance of the whole group. Without it a process that died keeps its partitions until the broker
expires it (``session_timeout_ms``) and hands them to the others.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata

from bot.events.stream import Record, topics
from bot.settings import Backend

log = logging.getLogger(__name__)
VERIFY_TIMEOUT_MS = 3000


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
            fetch_max_wait_ms=int(backend.get("fetch_max_wait_ms", 100)), reconnect_backoff_max_ms=1000,
            group_instance_id=str(backend.get("instance_id") or "") or None,
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
        ends = self._consumer.end_offsets(list(parts), timeout_ms=VERIFY_TIMEOUT_MS)
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
        self.send_timeout = float(backend.get("send_timeout_seconds", 30))
        self.producer = KafkaProducer(
            bootstrap_servers=_servers(backend), acks="all", linger_ms=5,
            max_block_ms=int(self.send_timeout * 1000),  # send() waits this long for a broker that is away
            enable_idempotence=bool(backend.get("idempotence", True)),
            max_in_flight_requests_per_connection=5, retries=2**31 - 1, request_timeout_ms=10_000,
            batch_size=256 * 1024, reconnect_backoff_max_ms=1000,  # back within a second of a broker restart
            **dict(backend.get("client_options") or {}),
        )  # fmt: skip
        self.keep_seconds = float(backend.get("outbox_keep_seconds", 3600))
        self.verify_seconds = float(backend.get("verify_seconds", 2))
        self._last_purge = self._last_verify = 0.0
        # the last minute's batches: (when, the outbox positions before it, the highest offset acknowledged per
        # partition); a broker may lose a tail it had already shown as written, so verified ones are kept too
        self._sent: deque[tuple[float, dict[str, int], dict[TopicPartition, int]]] = deque()
        self.window_seconds = float(backend.get("resend_window_seconds", 60))
        self._probe: KafkaConsumer | None = None
        self._high: dict[TopicPartition, int] = {}  # the highest offset acknowledged per partition
        self._servers, self._client_options = _servers(backend), dict(backend.get("client_options") or {})

    def run_once(self, timeout: float = 0.5) -> int:
        if self._sent and time.monotonic() - self._last_verify > self.verify_seconds:
            self._last_verify = time.monotonic()
            self.verify()
        before = self.outbox.positions()
        records = self.outbox.poll(self.batch, timeout)
        if not records:
            return 0
        try:
            futures = []
            for r in records:
                topic = self.topics.get(r.kind, self.topics["message"])  # an unknown kind goes where readers park it
                futures.append(self.producer.send(topic, key=r.key.encode(), value=r.value))
            self.producer.flush(timeout=self.send_timeout)
            acked: dict[TopicPartition, int] = {}
            lowest: dict[TopicPartition, int] = {}
            for f in futures:
                meta = f.get(timeout=self.send_timeout)  # raises if any send failed (the broker away or restarting)
                tp = TopicPartition(meta.topic, meta.partition)
                acked[tp] = max(acked.get(tp, -1), meta.offset)
                lowest[tp] = min(lowest.get(tp, meta.offset), meta.offset)
        except BaseException:
            self.outbox.rewind()  # the whole batch goes again on the next pass, not only what follows it
            raise
        # offsets handed out again: the broker lost what it had acknowledged at them (see verify)
        reused = {tp: low for tp, low in lowest.items() if low <= self._high.get(tp, -1)}
        if reused:
            self._resend_from(reused)
            return len(records)
        for tp, high in acked.items():
            self._high[tp] = max(self._high.get(tp, -1), high)
        self.outbox.commit(records)
        now = time.monotonic()
        self._sent.append((now, before, acked))
        while len(self._sent) > 1 and now - self._sent[0][0] > self.window_seconds:
            self._sent.popleft()
        if time.monotonic() - self._last_purge > 60:
            self._last_purge = time.monotonic()
            self.outbox.purge(self.keep_seconds)
        return len(records)

    def verify(self) -> None:
        """Acknowledged is not always kept: a broker that loses its unflushed tail on a restart (an unclean leader
        election on a real cluster; the wire-compatible test broker on SIGTERM) leaves partitions shorter than
        the offsets it acknowledged. Then the batches from the first lost one on are sent again (the outbox
        keeps rows ``outbox_keep_seconds``; readers ignore the second copy of a line)."""
        if self._probe is None:
            self._probe = KafkaConsumer(bootstrap_servers=self._servers, reconnect_backoff_max_ms=1000,
                                        **self._client_options)  # fmt: skip
        try:
            # bounded: the default wait is request_timeout_ms (5 min), and a relay waiting relays nothing
            ends = self._probe.end_offsets(list(self._high), timeout_ms=VERIFY_TIMEOUT_MS)
        except Exception as exc:  # a safety net must not stop what it guards: checked again on a later pass
            log.warning("partition ends not read (%s: %s); checked again later", type(exc).__name__, exc)
            return
        short = {tp: ends[tp] for tp, high in self._high.items() if tp in ends and ends[tp] <= high}
        if short:
            self._resend_from(short)

    def _resend_from(self, lost_from: dict[TopicPartition, int]) -> None:
        """Send again every batch of the window that had a record at or after ``lost_from`` (per partition)."""
        first = next((i for i, (_, _, acked) in enumerate(self._sent)
                      if any(acked.get(tp, -1) >= low for tp, low in lost_from.items())), None)  # fmt: skip
        positions = self._sent[first][1] if first is not None else (self._sent[0][1] if self._sent else None)
        log.error("the broker lost acknowledged records (%s); sending %d batch(es) again",
                  ", ".join(f"{tp.topic}/{tp.partition} from {o}" for tp, o in lost_from.items()),
                  len(self._sent) - (first or 0))  # fmt: skip
        if positions is None:
            self.outbox.rewind()
        else:
            self.outbox.seek(positions)
        self._sent.clear()
        for tp, low in lost_from.items():
            self._high[tp] = low - 1

    def close(self) -> None:
        self.producer.close(timeout=5)
        if self._probe is not None:
            self._probe.close()
        self.outbox.close()
