"""The event stream (seed §2.4.3, §6): every message and every session/ticket state change, in order per
conversation.

Writers add rows to an outbox table inside the transaction that makes the change (``outbox.publish``), so
nothing is acknowledged that is not durably queued. Readers see the stream through ``stream.create_consumer``:
the outbox tables themselves by default (``events.type: sql``), Kafka at scale (``events.type: kafka``, fed
from the outboxes by ``bot.events.relay``).

``envelope`` and ``table`` are imported by the Rasa server too (Python 3.10, SQLAlchemy 1.4): keep them
free of anything newer.
"""
