"""``safety: {type: http, url: ..., api_key: ..., timeout: 1.0, on_error: allow}``: a cloud content-safety API.

Providers differ, so the platform speaks one small JSON contract and a thin adapter in front of a provider
(or the provider itself) answers it::

    POST <url>   Authorization: Bearer <api_key>   (when set)
    {"text": "加微信刷单", "tenant_id": "shop-a"}
    200 {"action": "block", "category": "fraud", "rule": "p-1042", "masked_text": "＊＊＊＊＊"}

``action`` is pass | mask | review | block; ``category`` and ``rule`` are optional strings (≤ 64 characters);
``masked_text`` is required for mask (it is what goes on) and otherwise optional: without it a record keeps
only ＊ for the whole line. A timeout, an error status or an answer outside the contract is logged and decided
by ``on_error``: ``allow`` (the default: a provider outage must not silence every chat) or ``block``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.safety.base import ACTIONS, BLOCK, MASK, MASK_CHAR, PASS, Verdict, passed

log = logging.getLogger(__name__)
OPTION_KEYS = ("url", "api_key", "timeout", "on_error")


class BadAnswer(Exception):
    pass


@dataclass
class HttpFilter:
    url: str
    api_key: str = ""
    timeout: float = 1.0
    on_error: str = PASS
    blocking = True  # urllib waits: async callers run check() in a thread

    @classmethod
    def from_options(cls, options: Mapping[str, Any], home: Path | None = None) -> HttpFilter:
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise ConfigError(f"safety.{unknown[0]}", f"one of {', '.join(OPTION_KEYS)} for type http")
        url = options.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError("safety.url", "the http(s) URL of the content-safety service", url)
        timeout = options.get("timeout", 1.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 30:
            raise ConfigError("safety.timeout", "seconds, more than 0 and at most 30", timeout)
        on_error = options.get("on_error", "allow")
        if on_error not in ("allow", "block"):
            raise ConfigError("safety.on_error", "allow or block", on_error)
        return cls(url, str(options.get("api_key") or ""), float(timeout), BLOCK if on_error == "block" else PASS)

    def check(self, text: str, tenant_id: str) -> Verdict:
        try:
            return self._ask(text, tenant_id)
        except (OSError, BadAnswer, ValueError) as exc:  # URLError and timeouts are OSErrors
            log.warning("content-safety service failed (%s): %s", "blocking" if self.on_error == BLOCK else
                        "letting the message through", exc)  # fmt: skip
            if self.on_error == BLOCK:
                return Verdict(BLOCK, "", MASK_CHAR * len(text), "unavailable", "http:unavailable")
            return passed(text)

    def _ask(self, text: str, tenant_id: str) -> Verdict:
        body = json.dumps({"text": text, "tenant_id": tenant_id}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, body, headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as r:  # an operator-set http(s) URL
            answer = json.loads(r.read(64 * 1024).decode("utf-8"))
        return verdict_of(answer, text)


def verdict_of(answer: Any, text: str) -> Verdict:
    """The contract's answer as a Verdict; BadAnswer when it is not one."""
    if not isinstance(answer, dict) or answer.get("action") not in ACTIONS:
        raise BadAnswer(f"expected {{'action': one of {', '.join(ACTIONS)}}}")
    action = answer["action"]
    fields = {}
    for key in ("category", "rule", "masked_text"):
        value = answer.get(key)
        if value is not None and (not isinstance(value, str) or (key != "masked_text" and len(value) > 64)):
            raise BadAnswer(f"{key} must be a string" + ("" if key == "masked_text" else " of at most 64 characters"))
        fields[key] = value
    masked = fields["masked_text"]
    if action == PASS:
        return passed(text)
    if action == MASK and masked is None:
        raise BadAnswer("masked_text is required for mask")
    record = masked if masked is not None else MASK_CHAR * len(text)
    out = "" if action == BLOCK else masked if action == MASK else text
    return Verdict(action, out, record, fields["category"] or "unspecified", fields["rule"])
