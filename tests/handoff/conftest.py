"""Handoff fixtures: a real database (SQLite by default, the machine's MariaDB where asked), a real presence
store, a clock the test moves, and a recorder standing where the Rasa server would receive customer lines
(the full round trip through the real Rasa server is tests/e2e/test_handoff.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.security import Principal
from bot.settings import Settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.users import UserService
from handoff.config import HandoffConfig
from handoff.domain import CustomerRef
from handoff.presence.memory import MemoryPresence
from handoff.service import HandoffService

T0 = 1_767_240_000.0  # 2026-01-01 12:00 Asia/Shanghai: inside working hours


@dataclass
class Customers:
    """Records what the service sends to customers (conversation id → lines) instead of the Rasa server."""

    lines: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def say(self, conversation_id: str, text: str, buttons: Any = None, agent: Any = None, image: Any = None,
            custom: Any = None, line_id: str | None = None, again: bool = False) -> None:  # fmt: skip
        line = {"text": text, "buttons": buttons, "agent": agent, "image": image, "custom": custom}
        self.lines.setdefault(conversation_id, []).append(("say", line))

    def resume(self, conversation_id: str) -> None:
        self.lines.setdefault(conversation_id, []).append(("resume", None))

    def trigger(self, conversation_id: str, intent: str) -> None:
        self.lines.setdefault(conversation_id, []).append(("trigger", intent))

    def texts(self, conversation_id: str) -> list[str]:
        return [x["text"] for kind, x in self.lines.get(conversation_id, []) if kind == "say"]

    def kinds(self, conversation_id: str) -> list[str]:
        return [kind for kind, _ in self.lines.get(conversation_id, [])]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Desk:
    svc: HandoffService
    customers: Customers
    clock: Clock
    users: UserService
    notified: list[set[tuple[str, int | None]]]
    beating: dict[int, Principal] = field(default_factory=dict)  # agents whose pages send heartbeats

    def advance(self, seconds: float) -> None:
        """Time passes; the agents still at their desks keep sending heartbeats."""
        self.clock.advance(seconds)
        for who in self.beating.values():
            self.svc.presence.heartbeat(who.tenant_id, who.user_id, self.clock())

    def agent(self, login: str, skills: tuple[str, ...] = (), capacity: int = 5, tenant: str = "default",
              roles: set[str] | None = None, online: bool = True) -> Principal:  # fmt: skip
        u = self.users.create(tenant, login, f"客服{login}", roles or {"agent"}, "password-123", skills)
        if capacity != 5:
            from sqlalchemy import update

            from bot.storage.models import User

            with self.svc.db.session() as s:
                s.execute(update(User).where(User.user_id == u.user_id).values(capacity=capacity))
        who = Principal(u.user_id, tenant, frozenset(roles or {"agent"}), u.name)
        if online:
            self.svc.presence.heartbeat(tenant, u.user_id, self.clock())
            self.beating[u.user_id] = who
        return who

    def ask(self, conv: str, reason: str = "other", tags: tuple[str, ...] = (), tenant: str = "default",
            group: str | None = None) -> Any:  # fmt: skip
        return self.svc.request(CustomerRef(tenant, conv, "rest", conv, "顾客" + conv, tags), reason, group)


def make_desk(db: Database, config: HandoffConfig | None = None) -> Desk:
    migrate.upgrade(db.engine)
    clock, customers, notified = Clock(), Customers(), []
    cfg = config or HandoffConfig(working_hours="00:00-24:00", offer_seconds=20, silence_seconds=60,
                                  close_after_warning_seconds=30, max_wait_seconds=600)  # fmt: skip
    svc = HandoffService(db, MemoryPresence(cfg.heartbeat_ttl_seconds), cfg, customers, notified.append, clock)
    svc.maintain_live()  # as the app does at start: "no session" answered without a query (handoff.live)
    return Desk(svc, customers, clock, UserService(db), notified)


@pytest.fixture
def desk(settings: Settings) -> Iterator[Desk]:
    db = Database.from_settings(settings)
    yield make_desk(db)
    db.dispose()


DeskFactory = Callable[..., Desk]
