"""PII masked in every log line (seed §2.5.8): phone numbers, ID cards, bank cards, emails and landlines become
placeholders (``bot.security.mask_pii``) in the formatted message, its exception and its stack.

:class:`PiiFilter` sits on the platform's one log handler (``bot.logs.log_filters``), so it sees every record of
every logger that propagates to the root, Rasa's and the servers' included (Rasa logs each user message at
DEBUG). The message is formatted and masked once, and the record keeps the masked text, so handlers after it
cannot format the original again. :func:`install_pii_filter` covers a process that never configured logging
(the CLI): the root's handlers and Python's last-resort handler.
"""

from __future__ import annotations

import logging

from bot.security import mask_pii


class PiiFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pii_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: still masked, never lost
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask_pii(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
        record._pii_masked = True  # another handler with this filter has nothing left to do
        return True


def install_pii_filter() -> None:
    """Mask what the root's handlers and the last-resort handler write (a process without configure_logging)."""
    handlers = [*logging.getLogger().handlers, *([logging.lastResort] if logging.lastResort else [])]
    for handler in handlers:
        if not any(isinstance(f, PiiFilter) for f in handler.filters):
            handler.addFilter(PiiFilter())
