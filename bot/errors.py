"""Domain errors shared by every service; HTTP handlers and the CLI map them in one place."""

from __future__ import annotations


class CsbotError(Exception):
    """Base class: a failure we can explain to the user in one line."""


class ConfigError(CsbotError):
    """A configuration key is missing or has the wrong form."""

    def __init__(self, key: str, expected: str, got: object = None) -> None:
        self.key = key
        self.expected = expected
        self.got = got
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"config error: {key} must be {expected}{shown}")


class NotFound(CsbotError):
    pass


class Forbidden(CsbotError):
    pass


class InvalidInput(CsbotError):
    pass


class Conflict(CsbotError):
    pass


class PayloadTooLarge(CsbotError):
    pass


class UnsupportedMediaType(CsbotError):
    pass


class ContentBlocked(CsbotError):
    """A line the content-safety filter refused (``bot.safety``): nothing was stored or delivered."""


class RateLimited(CsbotError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
