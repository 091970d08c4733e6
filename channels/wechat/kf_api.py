"""The WeCom 微信客服 (kf) API as the kf channel uses it: the corp's access token (``gettoken``, shared like the
Official Account's, ``channels.wechat.tokens``), ``kf/sync_msg`` to pull what customers sent, ``kf/send_msg`` to
answer (text, a menu of choices, an image), ``kf/send_msg_on_event`` for the greeting, and ``media/get`` for a
customer's photo. The host is a setting (default https://qyapi.weixin.qq.com) so tests use a local fake.
"""

from __future__ import annotations

from typing import Any

from channels.wechat.api import MAX_TEXT, WeChatApi, token_of

# kf/send_msg refuses past the 48 h window or the 5-message quota (95001 and the like): the handoff shows it
MENU_MAX = 10


class KfApi(WeChatApi):
    async def _fetch(self, force: bool) -> tuple[str, float]:
        self.fetches += 1
        params = {"corpid": self.app_id, "corpsecret": self.secret}
        async with self._http().get(f"{self.base}/cgi-bin/gettoken", params=params) as r:
            return token_of(await r.json(content_type=None))

    async def sync_msg(self, cursor: str, token: str, open_kfid: str, limit: int = 1000) -> dict[str, Any]:
        body = {"cursor": cursor, "token": token, "limit": limit, "voice_format": 0, "open_kfid": open_kfid}
        return await self._post("/cgi-bin/kf/sync_msg", {k: v for k, v in body.items() if v != ""})

    async def _send(self, open_kfid: str, external_userid: str, msgtype: str, content: dict[str, Any]) -> None:
        await self._post("/cgi-bin/kf/send_msg", {"touser": external_userid, "open_kfid": open_kfid,
                                                  "msgtype": msgtype, msgtype: content})  # fmt: skip

    async def send_kf_text(self, open_kfid: str, external_userid: str, text: str) -> None:
        await self._send(open_kfid, external_userid, "text", {"content": _cap(text)})

    async def send_kf_menu(self, open_kfid: str, external_userid: str, head: str, titles: list[str]) -> None:
        """Choices the customer taps (their ``menu_id`` comes back with the tapped line: 1, 2, …)."""
        items = [{"type": "click", "click": {"id": str(i), "content": t[:128]}}
                 for i, t in enumerate(titles[:MENU_MAX], 1)]  # fmt: skip
        await self._send(open_kfid, external_userid, "msgmenu", {"head_content": _cap(head), "list": items})

    async def send_kf_image(self, open_kfid: str, external_userid: str, media_id: str) -> None:
        await self._send(open_kfid, external_userid, "image", {"media_id": media_id})

    async def send_on_event(self, code: str, text: str) -> None:
        """The welcome line, with the code of an ``enter_session`` event (valid for 20 s)."""
        body = {"code": code, "msgtype": "text", "text": {"content": _cap(text)}}
        await self._post("/cgi-bin/kf/send_msg_on_event", body)

    async def media(self, media_id: str, max_bytes: int) -> bytes | None:
        """A customer's photo (``media/get``); None when it is missing or too large."""
        token = await self.token()
        params = {"access_token": token, "media_id": media_id}
        async with self._http().get(f"{self.base}/cgi-bin/media/get", params=params) as r:
            if r.status != 200 or "json" in (r.content_type or ""):
                return None
            data = await r.content.read(max_bytes + 1)
        return data if len(data) <= max_bytes else None


def _cap(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
