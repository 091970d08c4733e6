"""A Redis lock store whose ticket operations are atomic across Rasa instances.

Rasa 3.6's ``RedisLockStore`` keeps each conversation's ticket lock as one JSON value and updates it by
read-modify-write. Two Rasa instances taking messages of the same conversation at the same moment both
read "no tickets", both issue ticket 0 and both process at once: we measured two session starts and lost
user messages with 10 concurrent messages over two instances. Here every read-modify-write of the ticket
lock (issue, refresh, finish/delete) runs under a short Redis mutex (``SET NX PX`` + compare-and-delete),
so the FIFO ticket semantics Rasa relies on hold across processes.

endpoints.yml::

    lock_store:
      type: channels.lock_store.AtomicRedisLockStore
      url: 127.0.0.1
      port: 6379
      db: 1
      key_prefix: csbot
"""

from __future__ import annotations

from typing import Any

from rasa.core.lock_store import LockError, RedisLockStore

GUARD_TIMEOUT_S = 5.0  # a crashed holder frees the mutex after this


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # how Rasa builds a lock store given by class path
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs}
        kwargs.pop("type", None)
        super().__init__(**kwargs)

    def _guard(self, conversation_id: str) -> Any:
        return self.red.lock(f"{self.key_prefix}{conversation_id}:guard", timeout=GUARD_TIMEOUT_S,
                             blocking_timeout=GUARD_TIMEOUT_S, sleep=0.002)  # fmt: skip

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = 60) -> int:
        try:
            with self._guard(conversation_id):
                return super().issue_ticket(conversation_id, lock_lifetime)
        except LockError:
            raise
        except Exception as exc:  # redis errors while guarding
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        with self._guard(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        with self._guard(conversation_id):
            super().cleanup(conversation_id, ticket_number)
