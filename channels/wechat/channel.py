"""The 公众号 webhook: ``GET/POST /webhooks/wechat/webhook``.

* **Who**: the openid of a message whose signature verified (and, in safe mode, whose ciphertext opened for this
  AppID) — nothing else in the body. A stale timestamp (> 5 min) is a replay and refused.
* **The 5-second rule**: WeChat retries a webhook that has not answered in 5 s, three times. The bot's turn
  gets ``PASSIVE_SECONDS``; done in time, its reply goes back in the HTTP answer (encrypted in safe mode);
  otherwise the answer is ``success`` at once and the reply follows through 客服消息 when the turn ends.
* **Retries**: each message is handled once, keyed by MsgId (events: FromUserName + CreateTime), in Redis when
  ``lock_store`` is Redis (several Rasa instances), else in process.
* **Bad input** (a bad signature 403, anything malformed 400, too large 413) never reaches Rasa and never 500s.
* Agents' lines (the handoff relays them with ``output_channel=latest``) go out through 客服消息.

The account is the ``wechat:`` settings section (token, app_id, app_secret, aes_key, mode plain | compatible |
safe, api_base, tenant, passive_seconds), so secrets stay out of credentials.yml.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.files.inspect import Rejected
from bot.files.links import TYPES
from bot.files.service import FileService
from bot.identity import Customer
from bot.settings import Settings, load_settings
from channels.gateway import Gateway, slow_down_text
from channels.wechat import crypto, wxml
from channels.wechat.api import OUT_OF_WINDOW, WeChatApi, WeChatApiError
from channels.wechat.render import Choices, RedisChoices, as_text
from channels.wechat.tokens import LocalTokens, RedisTokens, TokenStore

log = logging.getLogger(__name__)

PASSIVE_SECONDS = 4.0  # of WeChat's 5: the rest is for the network and encryption
MAX_SKEW_SECONDS = 300
DEDUP_SECONDS = 60  # WeChat's three tries are over within ~15 s
OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
ONLY_TEXT = "目前只能看懂文字和图片哦，麻烦用文字描述一下您的问题～"
PHOTO_LOST = "图片没有收到，麻烦再发一次～"
FILE_PAYLOAD = "/send_file"  # what a photo says to the bot (data/rules.yml); the photo itself is in the metadata
MEDIA_HOSTS = {"mmbiz.qpic.cn", "mmbiz.qlogo.cn", "mmsns.qpic.cn"}  # where WeChat serves customers' photos
GREETING = "/greet"


@dataclass(frozen=True)
class Account:
    token: str
    app_id: str
    app_secret: str
    aes_key: bytes | None
    mode: str  # plain | compatible | safe
    api_base: str
    tenant_id: str
    passive_seconds: float = PASSIVE_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> Account | None:
        raw = settings.raw.get("wechat") or {}
        if not isinstance(raw, dict) or not raw.get("token"):
            return None
        mode = str(raw.get("mode") or "safe")
        aes = str(raw.get("aes_key") or "")
        return cls(str(raw["token"]), str(raw.get("app_id") or ""), str(raw.get("app_secret") or ""),
                   crypto.aes_key(aes) if aes else None, mode,
                   str(raw.get("api_base") or "https://api.weixin.qq.com"),
                   str(raw.get("tenant") or settings.default_tenant),
                   min(4.5, float(raw.get("passive_seconds") or PASSIVE_SECONDS)))  # fmt: skip


class Dedup:
    """``first(key)``: True the first time a key is seen within ``DEDUP_SECONDS``."""

    def __init__(self, redis_url: str | None = None) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(redis_url)

    async def first(self, key: str) -> bool:
        if self._redis is not None:
            return bool(await self._redis.set(f"csbot:wechat:msg:{key}", 1, nx=True, ex=DEDUP_SECONDS))
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now - DEDUP_SECONDS:
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


def openid_of(conversation_id: str) -> str | None:
    _, _, rest = conversation_id.partition(":wx-")
    return rest or None


class WeChatOutput(OutputChannel):
    """Lines outside a passive reply (a slow bot turn, an agent): 客服消息 to the conversation's openid."""

    def __init__(self, api: WeChatApi, choices: Choices, files: Callable[[], FileService] | None = None) -> None:
        self.api, self.choices, self.files = api, choices, files

    @classmethod
    def name(cls) -> str:
        return "wechat"

    async def send_messages(self, conversation_id: str, messages: list[dict[str, Any]]) -> None:
        openid = openid_of(conversation_id)
        if not openid:
            return
        messages, images = await self._our_images(conversation_id, messages)
        text, payloads = as_text(messages)
        await self.choices.remember(conversation_id, payloads)
        try:
            if text:
                await self.api.send_text(openid, text)
            for data, name, content_type in images:  # shown as images, not links
                await self.api.send_image(openid, await self.api.upload_image(data, name, content_type))
        except WeChatApiError as exc:
            if exc.errcode in OUT_OF_WINDOW:  # the customer must write first; the line stays in the tracker
                log.warning("WeChat refused a line to %s: %s (48-hour window or quota)", conversation_id, exc)
            raise

    async def _our_images(self, conversation_id: str, messages: list[dict[str, Any]],
                    ) -> tuple[list[dict[str, Any]], list[tuple[bytes, str, str]]]:  # fmt: skip
        """Images that are our own stored files (an agent's upload), read from the store to be uploaded to
        WeChat as temporary media; any other image URL stays a link in the text (never fetched: no requests
        to addresses a message names)."""
        if self.files is None:
            return messages, []
        files = self.files()
        tenant = conversation_id.partition(":wx-")[0]
        kept, images = [], []
        for m in messages:
            url = m.get("image")
            key = files.key_of(url, tenant) if isinstance(url, str) else None
            data = await asyncio.get_running_loop().run_in_executor(None, files.store.get, key) if key else None
            if key and data is not None:
                ext = key.rsplit(".", 1)[-1]
                images.append((data, f"image.{ext}", TYPES.get(ext, "image/jpeg")))
                m = {k: v for k, v in m.items() if k != "image"}
            kept.append(m)
        return kept, images

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self.send_messages(recipient_id, [message])

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_messages(recipient_id, [{"text": text}])


class WeChatInput(InputChannel):
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.account = Account.from_settings(self.settings)
        self.gateway = Gateway.from_settings(self.settings)
        lock = self.settings.backend("lock_store")
        self.dedup = Dedup(str(lock.get("url")) if lock.type == "redis" and lock.get("url") else None)
        self.choices = RedisChoices(str(lock.get("url"))) if lock.type == "redis" and lock.get("url") else Choices()
        self.api = WeChatApi(self.account.api_base, self.account.app_id, self.account.app_secret,
                             tokens=self._tokens(lock)) if self.account else None  # fmt: skip
        self._pending: set[asyncio.Future[Any]] = set()
        self.files: FileService | None = None

    def _tokens(self, lock: Any) -> TokenStore:
        """Shared in Redis when Rasa instances share their lock store there (one token per account)."""
        if lock.type == "redis" and lock.get("url") and self.account:
            return RedisTokens(str(lock.get("url")), self.account.app_id)
        return LocalTokens()

    def _files(self) -> FileService:
        if self.files is None:
            self.files = FileService.from_settings(self.settings)
        return self.files

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def get_output_channel(self) -> OutputChannel | None:
        return WeChatOutput(self.api, self.choices, self._files) if self.api else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("csbot_wechat", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.account else "not configured"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            acct = self.account
            if acct is None:
                return response.text("wechat is not configured", status=404)
            a = request.args
            if not crypto.signature_ok(a.get("signature"), acct.token, a.get("timestamp", ""), a.get("nonce", "")):
                return response.text("bad signature", status=403)
            return response.text(a.get("echostr", ""))

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        return bp

    # --- one message --------------------------------------------------------------------------------------
    async def _receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        acct = self.account
        if acct is None:
            return response.text("wechat is not configured", status=404)
        body = request.body or b""
        if len(body) > wxml.MAX_BYTES:
            return response.text("too large", status=413)
        a = request.args
        ts, nonce = a.get("timestamp", ""), a.get("nonce", "")
        if not crypto.signature_ok(a.get("signature"), acct.token, ts, nonce):
            return response.text("bad signature", status=403)
        if not ts.isdigit() or abs(time.time() - int(ts)) > MAX_SKEW_SECONDS:
            return response.text("stale timestamp", status=403)
        encrypted = a.get("encrypt_type") == "aes"
        try:
            outer = wxml.parse(body)
            if encrypted:
                if acct.aes_key is None:
                    return response.text("safe mode is not configured", status=400)
                cipher = outer.get("Encrypt", "")
                if not crypto.signature_ok(a.get("msg_signature"), acct.token, ts, nonce, cipher):
                    return response.text("bad signature", status=403)
                msg = wxml.parse(crypto.decrypt(cipher, acct.aes_key, acct.app_id))
            elif acct.mode == "safe":
                return response.text("plaintext refused in safe mode", status=403)
            else:
                msg = outer
        except (wxml.BadMessage, crypto.WeChatCryptoError) as exc:
            log.info("wechat: refused a message: %s", exc)
            return response.text("bad message", status=400)
        openid = msg.get("FromUserName", "")
        if not OPENID_RE.match(openid):
            return response.text("bad message", status=400)
        key = msg.get("MsgId") or f"{openid}:{msg.get('CreateTime', '')}:{msg.get('Event', '')}"
        if not await self.dedup.first(key):
            return response.text("success")  # a retry: the first try is (or was) answering
        reply = await self._turn(acct, msg, openid, request, on_new_message)
        if not reply:
            return response.text("success")
        out = wxml.build({"ToUserName": openid, "FromUserName": msg.get("ToUserName", ""),
                          "CreateTime": int(time.time()), "MsgType": "text", "Content": reply})  # fmt: skip
        if encrypted and acct.aes_key is not None:
            stamp, nonce2 = str(int(time.time())), nonce
            cipher = crypto.encrypt(out, acct.aes_key, acct.app_id)
            out = wxml.build({"Encrypt": cipher, "MsgSignature": crypto.signature(acct.token, stamp, nonce2, cipher),
                              "TimeStamp": int(stamp), "Nonce": nonce2})  # fmt: skip
        return response.text(out, content_type="application/xml")

    async def _text_of(self, msg: dict[str, str], conversation: str) -> tuple[str | None, str | None]:
        """(what the bot hears, or None) and (a reply without the bot, or None)."""
        kind = msg.get("MsgType")
        if kind == "text" and msg.get("Content"):
            return await self.choices.resolve(conversation, msg["Content"][:2000]), None
        if kind == "voice" and msg.get("Recognition"):  # WeChat's own speech recognition
            return msg["Recognition"][:2000], None
        if kind == "event":
            event = msg.get("Event", "").lower()
            if event == "subscribe":
                return GREETING, None
            if event == "click" and msg.get("EventKey"):  # a menu button: its key is a payload or a question
                return msg["EventKey"][:200], None
            return None, None  # unsubscribe, location, view…: nothing to say
        if kind == "image" and msg.get("PicUrl"):
            return FILE_PAYLOAD, None  # the photo itself is fetched in _turn
        return None, ONLY_TEXT

    async def _fetch_image(self, url: str, tenant_id: str) -> dict[str, str] | None:
        """A customer's photo from WeChat's media host, checked and stored like a web upload (``bot.files``);
        its signed link, or None when it could not be had."""
        host = urlsplit(url).hostname or ""
        allowed = {*MEDIA_HOSTS, urlsplit(self.account.api_base).hostname or ""} if self.account else set()
        if urlsplit(url).scheme not in ("http", "https") or host not in allowed:
            log.warning("wechat: a PicUrl on an unexpected host was not fetched: %s", host)
            return None
        files = self._files()
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as r:
                data = await r.content.read(files.max_bytes + 1)
            if r.status != 200 or len(data) > files.max_bytes:
                return None
            stored = await asyncio.get_running_loop().run_in_executor(None, files.save, tenant_id, "微信图片",
                                                                      data)  # fmt: skip
        except (aiohttp.ClientError, asyncio.TimeoutError, Rejected) as exc:
            log.info("wechat: a customer's photo was not kept: %s", exc)
            return None
        return {"url": stored.url, "name": stored.name, "content_type": stored.content_type}

    async def _turn(self, acct: Account, msg: dict[str, str], openid: str, request: Request,
                    on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> str | None:  # fmt: skip
        customer = Customer(acct.tenant_id, f"wx-{openid}", "wechat")
        conversation = customer.conversation_id()
        text, direct = await self._text_of(msg, conversation)
        if text is None:
            return direct
        decision = await self.gateway.admit(conversation, None)  # WeChat's servers are the IP: per conversation
        if not decision.allowed:
            return slow_down_text(decision)
        screened = await self.gateway.screen(customer, conversation, text)
        if screened.refusal:  # content safety: answered here, never seen by the NLU
            return screened.refusal
        text = screened.text
        collector = CollectingOutputChannel()
        metadata = self.gateway.metadata(customer, conversation, None)
        if text == FILE_PAYLOAD and msg.get("MsgType") == "image":
            file = await self._fetch_image(msg.get("PicUrl", ""), acct.tenant_id)
            if file is None:
                return PHOTO_LOST
            metadata["file"] = file
        message = UserMessage(text, collector, conversation, input_channel=self.name(), metadata=metadata)
        task = asyncio.ensure_future(on_new_message(message))
        try:
            await asyncio.wait_for(asyncio.shield(task), acct.passive_seconds)
        except asyncio.TimeoutError:
            self._pending.add(task)
            task.add_done_callback(lambda t: self._later(t, conversation, collector))
            return None
        except Exception:  # the turn failed: WeChat must not show 该公众号暂时无法提供服务
            log.exception("wechat: the bot's turn failed for %s", conversation)
            return "抱歉，系统开了个小差，请稍后再发一次～"
        reply, payloads = as_text(collector.messages)
        await self.choices.remember(conversation, payloads)
        return reply or None

    def _later(self, task: asyncio.Task[Any], conversation: str, collector: CollectingOutputChannel) -> None:
        """A turn that missed the window: its reply goes out through 客服消息 when it ends."""
        self._pending.discard(task)
        if task.cancelled() or task.exception() is not None or not collector.messages or self.api is None:
            return
        out = WeChatOutput(self.api, self.choices, self._files)
        sent = asyncio.ensure_future(out.send_messages(conversation, collector.messages))
        self._pending.add(sent)  # held until done: the loop keeps only weak references to tasks
        sent.add_done_callback(lambda t: (self._pending.discard(t), _log_failure(t, conversation)))


def _log_failure(task: asyncio.Future[Any], conversation: str) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("wechat: a late reply to %s was not delivered: %s", conversation, task.exception())
