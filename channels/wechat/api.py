"""The WeChat API as the channel uses it (aiohttp, in the Rasa server): a stable access token, and 客服消息
(customer-service messages) for replies that miss the 5-second window and for agents' lines.

The host is a setting (``wechat.api_base``, default https://api.weixin.qq.com), so tests point it at a local
fake of WeChat. The token comes from ``/cgi-bin/stable_token`` and is kept where every instance finds it
(``channels.wechat.tokens``): renewed 5 minutes before it expires, and forced once when WeChat calls it invalid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp

from channels.wechat.tokens import LocalTokens, TokenStore

TOKEN_INVALID = {40001, 40014, 42001}  # invalid, malformed, expired
OUT_OF_WINDOW = {45015, 45047}  # 48 h since the customer last wrote; 5 messages used (quota)
MAX_TEXT = 2000  # as handoff.service.MAX_TEXT; WeChat's own cap on 客服消息 text was not checked against the real API


class WeChatApiError(RuntimeError):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode


def token_of(data: Any) -> tuple[str, float]:
    """(access_token, seconds valid) from a token endpoint's reply, or its error."""
    if not isinstance(data, dict) or not data.get("access_token"):
        code = int(data.get("errcode", -1)) if isinstance(data, dict) else -1
        raise WeChatApiError(code, str(data.get("errmsg", "")) if isinstance(data, dict) else "bad reply")
    return str(data["access_token"]), float(data.get("expires_in", 7200))


class WeChatApi:
    def __init__(self, base_url: str, app_id: str, app_secret: str, clock: Callable[[], float] = time.time,
                 tokens: TokenStore | None = None) -> None:  # fmt: skip
        self.base, self.app_id, self.secret, self.clock = base_url.rstrip("/"), app_id, app_secret, clock
        self.tokens: TokenStore = tokens or LocalTokens(clock)
        self.fetches = 0  # stable_token calls made by this instance
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self._session

    async def token(self, refused: str | None = None) -> str:
        return await self.tokens.get(self._fetch, refused)

    async def _fetch(self, force: bool) -> tuple[str, float]:
        self.fetches += 1
        body = {"grant_type": "client_credential", "appid": self.app_id, "secret": self.secret, "force_refresh": force}
        async with self._http().post(f"{self.base}/cgi-bin/stable_token", json=body) as r:
            return token_of(await r.json(content_type=None))

    async def _post(self, path: str, body: dict[str, Any] | None = None,
                    form: Callable[[], aiohttp.FormData] | None = None,
                    params: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
        """A call with the token, renewed once if WeChat refuses it; ``form`` builds a multipart body per try."""
        refused: str | None = None
        for attempt in range(2):
            token = await self.token(refused)
            query = {"access_token": token, **(params or {})}
            payload = {"data": form()} if form is not None else {"json": body}
            async with self._http().post(f"{self.base}{path}", params=query, **payload) as r:
                data = await r.json(content_type=None)
            code = int(data.get("errcode", 0)) if isinstance(data, dict) else -1
            if code in TOKEN_INVALID and attempt == 0:
                refused = token
                continue
            if code:
                raise WeChatApiError(code, str(data.get("errmsg", "")) if isinstance(data, dict) else "bad reply")
            return data if isinstance(data, dict) else {}
        raise AssertionError("unreachable")

    async def upload_image(self, data: bytes, filename: str, content_type: str) -> str:
        """Temporary media (kept 3 days by WeChat): the media_id an image message refers to."""
        def form() -> aiohttp.FormData:
            f = aiohttp.FormData()
            f.add_field("media", data, filename=filename, content_type=content_type)
            return f

        got = await self._post("/cgi-bin/media/upload", form=form, params={"type": "image"})
        if not got.get("media_id"):
            raise WeChatApiError(-1, "no media_id in the upload reply")
        return str(got["media_id"])

    async def send_image(self, openid: str, media_id: str) -> None:
        await self._post("/cgi-bin/message/custom/send",
                         {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}})  # fmt: skip

    async def send_text(self, openid: str, content: str) -> None:
        """One 客服消息; ``WeChatApiError`` with 45015/45047 when the 48-hour window or the quota is used up."""
        text = content if len(content) <= MAX_TEXT else content[: MAX_TEXT - 1] + "…"
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self._post("/cgi-bin/message/custom/send", body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.tokens.close()
