"""The ticket status machine, as one table and one pure function.

    新建 NEW ──▶ 处理中 IN_PROGRESS ◀──▶ 待客户 WAITING_CUSTOMER
       │              │     ▲                  │
       │              ▼     │ reopen           │
       └──────────▶ 已解决 RESOLVED ◀──────────┘
    every open status, and RESOLVED ──▶ 关闭 CLOSED (terminal: a new problem is a new ticket)

Nothing goes back to NEW, nothing leaves CLOSED, and a move to the status a ticket already has is refused
(a double click must not publish a second event). ``move`` raises ``IllegalTransition`` (HTTP 409).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from handoff.states import IllegalTransition


class Status(IntEnum):  # the codes of cs_ticket.status
    NEW = 0
    IN_PROGRESS = 1
    WAITING_CUSTOMER = 2
    RESOLVED = 3
    CLOSED = 4

    @property
    def label(self) -> str:
        return LABELS[self]

    @property
    def key(self) -> str:
        return self.name.lower()


LABELS = {Status.NEW: "新建", Status.IN_PROGRESS: "处理中", Status.WAITING_CUSTOMER: "待客户",
          Status.RESOLVED: "已解决", Status.CLOSED: "关闭"}  # fmt: skip

MOVES: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING_CUSTOMER: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.IN_PROGRESS, Status.CLOSED}),  # reopen: the fix did not hold
    Status.CLOSED: frozenset(),
}
# the SLA clock runs only while the next step is ours (待客户 pauses it; 已解决/关闭 stop it)
SLA_RUNNING = (Status.NEW, Status.IN_PROGRESS)
OPEN = (Status.NEW, Status.IN_PROGRESS, Status.WAITING_CUSTOMER)


@dataclass(frozen=True)
class Move:
    before: Status
    after: Status

    @property
    def reopens(self) -> bool:
        return self.before is Status.RESOLVED and self.after is Status.IN_PROGRESS

    @property
    def pauses_sla(self) -> bool:
        return self.after is Status.WAITING_CUSTOMER

    @property
    def resumes_sla(self) -> bool:
        return self.before is Status.WAITING_CUSTOMER and self.after in SLA_RUNNING


def parse(value: str | int) -> Status:
    """A status from its code (0-4), its key (in_progress) or its label (处理中); ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Status(value)
    text = str(value).strip()
    if text.isdigit():
        return Status(int(text))
    for s in Status:
        if text.lower() == s.key or text == s.label:
            return s
    raise ValueError(f"unknown ticket status {text[:20]!r}: one of {', '.join(s.key for s in Status)}")


def move(before: Status, after: Status) -> Move:
    if after not in MOVES[before]:
        raise IllegalTransition(f"a ticket that is {before.label} ({before.key}) cannot move to "
                                f"{after.label} ({after.key})")  # fmt: skip
    return Move(before, after)
