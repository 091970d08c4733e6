"""The WeChat API as the channel uses it (aiohttp, in the Rasa server): a stable access token, and 客服消息
(customer-service messages) for replies that miss the 5-second window and for agents' lines.

The host is a setting (``wechat.api_base``, default https://api.weixin.qq.com), so tests point it at a local
fake of WeChat. The token comes from ``/cgi-bin/stable_token`` (a fetch does not invalidate other holders'
tokens), is renewed 5 minutes before it expires, and once more, forced, when WeChat calls it invalid.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

TOKEN_INVALID = {40001, 40014, 42001}  # invalid, malformed, expired
OUT_OF_WINDOW = {45015, 45047}  # 48 h since the customer last wrote; 5 messages used (quota)
MAX_TEXT = 2000  # as handoff.service.MAX_TEXT; WeChat's own cap on 客服消息 text was not checked against the real API


class WeChatApiError(RuntimeError):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode


class WeChatApi:
    def __init__(self, base_url: str, app_id: str, app_secret: str, clock: Callable[[], float] = time.time) -> None:
        self.base, self.app_id, self.secret, self.clock = base_url.rstrip("/"), app_id, app_secret, clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self._session

    async def token(self, force: bool = False) -> str:
        async with self._lock:
            if self._token and not force and self.clock() < self._renew_at:
                return self._token
            body = {"grant_type": "client_credential", "appid": self.app_id, "secret": self.secret,
                    "force_refresh": force}  # fmt: skip
            async with self._http().post(f"{self.base}/cgi-bin/stable_token", json=body) as r:
                data = await r.json(content_type=None)
            if not isinstance(data, dict) or not data.get("access_token"):
                code = int(data.get("errcode", -1)) if isinstance(data, dict) else -1
                raise WeChatApiError(code, str(data.get("errmsg", "")) if isinstance(data, dict) else "bad reply")
            self._token = str(data["access_token"])
            self._renew_at = self.clock() + max(60.0, float(data.get("expires_in", 7200)) - 300)
            return self._token

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(2):
            token = await self.token(force=attempt > 0)
            async with self._http().post(f"{self.base}{path}", params={"access_token": token}, json=body) as r:
                data = await r.json(content_type=None)
            code = int(data.get("errcode", 0)) if isinstance(data, dict) else -1
            if code in TOKEN_INVALID and attempt == 0:
                continue
            if code:
                raise WeChatApiError(code, str(data.get("errmsg", "")) if isinstance(data, dict) else "bad reply")
            return data if isinstance(data, dict) else {}
        raise AssertionError("unreachable")

    async def send_text(self, openid: str, content: str) -> None:
        """One 客服消息; ``WeChatApiError`` with 45015/45047 when the 48-hour window or the quota is used up."""
        text = content if len(content) <= MAX_TEXT else content[: MAX_TEXT - 1] + "…"
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self._post("/cgi-bin/message/custom/send", body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
