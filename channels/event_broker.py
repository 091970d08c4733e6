"""Relays what customers say to the handoff service: a Rasa event broker (``event_broker:`` in endpoints.yml).

Why here and not in an action or a channel: once a conversation is paused for a person, Rasa still parses and
logs every user message but runs no action, and every channel (REST, socket.io, WeChat) reaches the same
tracker. The broker sees each user event of every channel after it is stored, in order, so the agent gets
exactly what the tracker holds. ``publish`` only queues (Rasa calls it on its event loop); a task posts the
queue in batches, so one conversation's messages arrive in order and a slow or absent handoff service never
delays a customer's reply. Conversations are spread over a few lanes (a hash of their id), each with its own
queue and one request in flight, so a batch being posted does not hold up the other lanes. Messages of
conversations without an open handoff are ignored by the service.
If the service stays away the oldest queued messages are dropped with a warning (the tracker keeps them;
the agent's context view reads the tracker).

Runs in the Rasa server (Python 3.10, rasa's pins): aiohttp, and bot modules that run there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from typing import Any

import aiohttp
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from bot.files.links import attachment_of
from bot.identity import seal_secret, unseal
from bot.settings import Settings, home_secret, load_settings
from bot.tokens import ServiceTokens

log = logging.getLogger(__name__)
MAX_QUEUE = 10_000
BATCH = 100
LANES = 4


class HandoffEventBroker(EventBroker):
    def __init__(self, settings: Settings, url: str | None = None) -> None:
        self.settings = settings
        self.url = (url or settings.services.url("handoff")).rstrip("/") + "/internal/events"
        self.tokens = ServiceTokens(settings.keyring, "rasa-broker", settings.service_token_seconds)
        self._secret = seal_secret(settings)
        self._file_secret = home_secret(settings, "file-links")
        self._lanes: list[asyncio.Queue[tuple[str, dict[str, Any]]]] = [asyncio.Queue(MAX_QUEUE // LANES)
                                                                        for _ in range(LANES)]  # fmt: skip
        self._tasks: list[asyncio.Task[None] | None] = [None] * LANES
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig, event_loop: Any = None) -> HandoffEventBroker:
        return cls(load_settings(), broker_config.url if broker_config else None)

    def publish(self, event: dict[str, Any]) -> None:
        if event.get("event") != "user" or not event.get("text"):
            return
        conversation = str(event.get("sender_id") or "")
        who = unseal(event.get("metadata"), conversation, self._secret)
        tenant = who.tenant_id if who else self.settings.default_tenant
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        item = {"conversation_id": conversation, "text": str(event["text"])[:2000], "intent": intent,
                "at": event.get("timestamp")}  # fmt: skip
        file = attachment_of((event.get("metadata") or {}).get("file"), tenant, self._file_secret, time.time())
        if file:  # a photo or PDF the channel checked: the agent sees it, not the /send_file payload
            item["file"] = file
        lane = zlib.crc32(conversation.encode()) % LANES
        queue = self._lanes[lane]
        if queue.full():
            dropped = queue.get_nowait()
            log.warning("handoff relay queue full; dropped a message of %s", dropped[1]["conversation_id"])
        queue.put_nowait((tenant, item))
        task = self._tasks[lane]
        if task is None or task.done():
            self._tasks[lane] = asyncio.get_event_loop().create_task(self._run(queue))

    async def _run(self, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        while True:
            first = await queue.get()
            batch = [first]
            while len(batch) < BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            await self._send(batch)

    async def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        by_tenant: dict[str, list[dict[str, Any]]] = {}
        for tenant, item in batch:  # a dict keeps insertion order: each tenant's messages stay in order
            by_tenant.setdefault(tenant, []).append(item)
        for tenant, items in by_tenant.items():
            for attempt in range(3):
                try:
                    async with self._session.post(self.url, json={"events": items},
                                                  headers=self.tokens.headers(tenant)) as resp:  # fmt: skip
                        if resp.status == 401:
                            self.tokens.forget(tenant)
                            continue
                        if resp.status < 500:
                            break
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.2 * (attempt + 1))
            else:
                log.warning("handoff service unreachable; %d customer message(s) not relayed", len(items))

    def is_ready(self) -> bool:
        return True

    async def close(self) -> None:
        """Deliver what is queued for at most 2 s, then stop: never hang Rasa's shutdown (platform-facts)."""
        with contextlib.suppress(Exception):
            deadline = asyncio.get_event_loop().time() + 2
            while any(not q.empty() for q in self._lanes) and asyncio.get_event_loop().time() < deadline:
                await asyncio.sleep(0.05)
        for task in self._tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._session is not None:
            await self._session.close()
