"""Consecutive agent lines to one customer, merged into one message while the previous one is on its way.

WeChat rations what may be sent after a customer's message (5 messages within 48 h, ``handoff.quota``), and
agents often send a thought as three quick lines. Lines for a session queue behind the delivery in flight;
when it ends, everything queued goes as one message (text lines joined; an image or file goes on its own).
Nothing is held back when nothing is in flight, so a lone line pays no delay. Each caller still learns
whether *its* line reached the customer. In process: with several handoff instances, lines that land on
different instances are simply not merged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Line:
    text: str
    image: str | None = None
    custom: dict[str, Any] | None = None
    agent: dict[str, Any] | None = None
    merged: bool = False  # set for the 2nd and later lines of a merged message
    delivered: bool | None = None
    _turn: threading.Event = field(default_factory=threading.Event, repr=False)
    _batch: list[Line] | None = field(default=None, repr=False)  # set when this caller is to deliver

    @property
    def mergeable(self) -> bool:
        return bool(self.text) and self.image is None and self.custom is None


def batches(lines: Sequence[Line]) -> list[list[Line]]:
    """Runs of text-only lines become one message each; any other line is a message of its own."""
    out: list[list[Line]] = []
    for line in lines:
        if line.mergeable and out and all(x.mergeable for x in out[-1]):
            out[-1].append(line)
        else:
            out.append([line])
    return out


class Outbox:
    def __init__(self, deliver: Callable[[str, Line], bool]) -> None:
        """``deliver(conversation, line)`` sends one message and says whether it arrived."""
        self._deliver = deliver
        self._lock = threading.Lock()
        self._queues: dict[str, list[Line]] = {}  # conversation → lines waiting; present while one is in flight

    def send(self, conversation: str, line: Line) -> Line:
        """Blocks until the line is delivered (alone or merged); ``deliver`` has its own timeouts."""
        with self._lock:
            waiting = self._queues.get(conversation)
            if waiting is None:  # nothing in flight: this caller delivers
                self._queues[conversation] = []
                line._batch = [line]
            else:
                waiting.append(line)
        if line._batch is None:
            line._turn.wait()
            if line._batch is None:  # delivered by another caller
                return line
        self._run(conversation, line._batch)
        return line

    def _run(self, conversation: str, lines: list[Line]) -> None:
        for batch in batches(lines):
            first = batch[0]
            merged = Line("\n".join(x.text for x in batch), first.image, first.custom, first.agent) \
                if len(batch) > 1 else first  # fmt: skip
            try:
                ok = self._deliver(conversation, merged)
            except Exception:  # read by the callers as not delivered
                ok = False
            for i, x in enumerate(batch):
                x.delivered, x.merged = ok, i > 0
                if x is not lines[0]:
                    x._turn.set()
        with self._lock:  # what queued meanwhile goes next, delivered by its first caller's thread
            queued = self._queues[conversation]
            if not queued:
                del self._queues[conversation]
                return
            self._queues[conversation] = []
        queued[0]._batch = queued
        queued[0]._turn.set()
