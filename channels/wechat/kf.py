"""WeCom 微信客服 (kf): ``GET/POST /webhooks/wecom_kf/webhook``, ``channels.wechat.kf.KfInput`` in credentials.yml.

WeCom's callback only says "something arrived" (``kf_msg_or_event`` with a short-lived token); the messages
are pulled with ``kf/sync_msg`` from a cursor, answered with ``kf/send_msg`` — there is no passive reply, so
the callback answers at once and the turns run after it.

* **Who**: the ``external_userid`` of a message pulled from WeCom's API with our own access token, after a
  callback whose ``msg_signature`` verified and whose ciphertext opened for this corp — never anything a client
  sent. The conversation is ``{tenant}:kf-{external_userid}``.
* **Once**: each message is handled once, keyed by its ``msgid`` (shared in Redis when the lock store is Redis,
  as the Official Account does); the cursor is kept after every page (Redis, else a file in the home), so a
  restart neither loses nor replays messages. With no cursor yet (the first start), messages older than
  ``STALE_SECONDS`` are not answered: WeCom would hand back days of history.
* **Order**: one customer's turns run one after another; different customers side by side.
* **Buttons**: a turn's choices go out as a ``msgmenu`` the customer taps; the tap comes back with its
  ``menu_id`` and is read as the choice's payload.
* **Agents**: during a handoff the agent's lines come through Rasa (``output_channel=latest``) and go out
  with ``kf/send_msg`` from the kf account the customer last wrote to (remembered for 48 h, WeCom's window).
  The kf session stays with the API (智能助手, state 1): WeCom accepts API messages only then. Handing the chat
  to WeCom's own servicers (待接入池 / 人工, ``kf/service_state/trans``) is not built.

The account is the ``wecom_kf:`` settings section (corp_id, secret, token, aes_key, api_base, tenant).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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
from channels.wechat.api import OUT_OF_WINDOW, WeChatApiError
from channels.wechat.channel import FILE_PAYLOAD, GREETING, MAX_SKEW_SECONDS, ONLY_TEXT, PHOTO_LOST, Dedup
from channels.wechat.kf_api import KfApi
from channels.wechat.kf_state import KfState
from channels.wechat.render import Choices, RedisChoices, as_text
from channels.wechat.tokens import LocalTokens, RedisTokens, TokenStore

log = logging.getLogger(__name__)
NAME = "wecom_kf"
ID_RE = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
STALE_SECONDS = 600
OnMessage = Callable[[UserMessage], Awaitable[Any]]


@dataclass(frozen=True)
class KfAccount:
    corp_id: str
    secret: str
    token: str
    aes_key: bytes
    api_base: str
    tenant_id: str

    @classmethod
    def from_settings(cls, settings: Settings) -> KfAccount | None:
        raw = settings.raw.get("wecom_kf") or {}
        if not isinstance(raw, dict) or not raw.get("token") or not raw.get("aes_key") or not raw.get("corp_id"):
            return None
        return cls(str(raw["corp_id"]), str(raw.get("secret") or ""), str(raw["token"]),
                   crypto.aes_key(str(raw["aes_key"])), str(raw.get("api_base") or "https://qyapi.weixin.qq.com"),
                   str(raw.get("tenant") or settings.default_tenant))  # fmt: skip


def external_of(conversation_id: str) -> str | None:
    _, _, rest = conversation_id.partition(":kf-")
    return rest or None


class KfOutput(OutputChannel):
    """Bot turns, late replies and agents' lines: ``kf/send_msg`` to the customer's kf account."""

    def __init__(self, api: KfApi, choices: Choices, state: KfState,
                 files: Callable[[], FileService] | None = None) -> None:  # fmt: skip
        self.api, self.choices, self.state, self.files = api, choices, state, files

    @classmethod
    def name(cls) -> str:
        return NAME

    async def send_messages(self, conversation_id: str, messages: list[dict[str, Any]]) -> None:
        external = external_of(conversation_id)
        kfid = await self.state.route(external) if external else None
        if not external or not kfid:
            log.warning("wecom_kf: no kf account to answer %s from (no message within 48 h)", conversation_id)
            raise WeChatApiError(45015, "no message from this customer within 48 h")
        images = []
        plain = []
        for m in messages:  # our own stored images go as images; buttons as a menu
            key = self._key_of(m.get("image"), conversation_id)
            if key:
                images.append(key)
                m = {k: v for k, v in m.items() if k != "image"}
            plain.append(m)
        text, _ = as_text([{k: v for k, v in m.items() if k not in ("buttons", "quick_replies")} for m in plain])
        titles = [str(b["title"]) for m in plain for b in (m.get("buttons") or m.get("quick_replies") or [])
                  if isinstance(b, dict) and b.get("title") and b.get("payload")]  # fmt: skip
        _, payloads = as_text(plain)
        await self.choices.remember(conversation_id, payloads)
        try:
            if titles:
                await self.api.send_kf_menu(kfid, external, text or "请选择：", titles)
            elif text:
                await self.api.send_kf_text(kfid, external, text)
            for key in images:
                store = self.files().store  # type: ignore[misc]
                data = await asyncio.get_running_loop().run_in_executor(None, store.get, key)
                if data is not None:
                    ext = key.rsplit(".", 1)[-1]
                    media = await self.api.upload_image(data, f"image.{ext}", TYPES.get(ext, "image/jpeg"))
                    await self.api.send_kf_image(kfid, external, media)
        except WeChatApiError as exc:
            if exc.errcode in OUT_OF_WINDOW or exc.errcode >= 95000:
                log.warning("WeCom refused a line to %s: %s (48-hour window or quota)", conversation_id, exc)
            raise

    def _key_of(self, url: Any, conversation_id: str) -> str | None:
        if self.files is None or not isinstance(url, str):
            return None
        return self.files().key_of(url, conversation_id.partition(":kf-")[0])

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self.send_messages(recipient_id, [message])

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_messages(recipient_id, [{"text": text}])


class KfInput(InputChannel):
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.account = KfAccount.from_settings(self.settings)
        self.gateway = Gateway.from_settings(self.settings)
        lock = self.settings.backend("lock_store")
        shared = str(lock.get("url")) if lock.type == "redis" and lock.get("url") else None
        self.dedup = Dedup(shared)
        self.choices = RedisChoices(shared) if shared else Choices()
        self.state = KfState(self.settings.home, shared)
        tokens: TokenStore = RedisTokens(shared, f"kf-{self.account.corp_id}") if shared and self.account \
            else LocalTokens()  # fmt: skip
        self.api = KfApi(self.account.api_base, self.account.corp_id, self.account.secret, tokens=tokens) \
            if self.account else None  # fmt: skip
        self.files: FileService | None = None
        self._syncing: set[str] = set()
        self._again: dict[str, str] = {}  # kf account → the newest callback token while a sync runs
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # per conversation: its turns in order; how many
        self._tasks: set[asyncio.Future[Any]] = set()

    @classmethod
    def name(cls) -> str:
        return NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def _files(self) -> FileService:
        if self.files is None:
            self.files = FileService.from_settings(self.settings)
        return self.files

    def get_output_channel(self) -> OutputChannel | None:
        return KfOutput(self.api, self.choices, self.state, self._files) if self.api else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("csbot_wecom_kf", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.account else "not configured"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            """WeCom's URL check: the echostr is encrypted; answer it decrypted."""
            acct, a = self.account, request.args
            if acct is None:
                return response.text("wecom_kf is not configured", status=404)
            echo = a.get("echostr", "")
            if not crypto.signature_ok(a.get("msg_signature"), acct.token, a.get("timestamp", ""), a.get("nonce", ""),
                                       echo):  # fmt: skip
                return response.text("bad signature", status=403)
            try:
                return response.text(crypto.decrypt(echo, acct.aes_key, acct.corp_id))
            except crypto.WeChatCryptoError:
                return response.text("bad echostr", status=400)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._callback(request, on_new_message)

        return bp

    async def _callback(self, request: Request, on_new_message: OnMessage) -> HTTPResponse:
        acct = self.account
        if acct is None or self.api is None:
            return response.text("wecom_kf is not configured", status=404)
        body = request.body or b""
        if len(body) > wxml.MAX_BYTES:
            return response.text("too large", status=413)
        a = request.args
        ts, nonce = a.get("timestamp", ""), a.get("nonce", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > MAX_SKEW_SECONDS:
            return response.text("stale timestamp", status=403)
        try:
            cipher = wxml.parse(body).get("Encrypt", "")
            if not crypto.signature_ok(a.get("msg_signature"), acct.token, ts, nonce, cipher):
                return response.text("bad signature", status=403)
            event = wxml.parse(crypto.decrypt(cipher, acct.aes_key, acct.corp_id))
        except (wxml.BadMessage, crypto.WeChatCryptoError) as exc:
            log.info("wecom_kf: refused a callback: %s", exc)
            return response.text("bad message", status=400)
        kfid = event.get("OpenKfId", "")
        if event.get("Event") == "kf_msg_or_event" and ID_RE.match(kfid):
            self._hold(asyncio.ensure_future(self._sync(kfid, event.get("Token", ""), on_new_message)))
        return response.text("success")

    def _hold(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    # --- pulling --------------------------------------------------------------------------------------
    async def _sync(self, kfid: str, token: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Pull everything after the cursor; a callback arriving meanwhile makes the running pull go round again."""
        if kfid in self._syncing:
            self._again[kfid] = token
            return
        self._syncing.add(kfid)
        try:
            while True:
                cursor = await self.state.cursor(kfid)
                first_ever = not cursor
                while True:
                    page = await self.api.sync_msg(cursor, token, kfid)  # type: ignore[union-attr]
                    for m in page.get("msg_list") or []:
                        if isinstance(m, dict):
                            await self._one(m, kfid, first_ever, on_new_message)
                    cursor = str(page.get("next_cursor") or cursor)
                    await self.state.set_cursor(kfid, cursor)
                    if not page.get("has_more"):
                        break
                if kfid not in self._again:
                    break
                token = self._again.pop(kfid)
        finally:
            self._syncing.discard(kfid)

    async def _one(self, m: dict[str, Any], kfid: str, first_ever: bool,
                   on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:  # fmt: skip
        event = m.get("event") if isinstance(m.get("event"), dict) else {}
        # an event names the customer inside it; a message at the top
        external = str(m.get("external_userid") or event.get("external_userid") or "")
        msgid = str(m.get("msgid") or "")
        if not ID_RE.match(external) or not msgid or not await self.dedup.first(f"kf:{msgid}"):
            return
        if first_ever and float(m.get("send_time") or 0) < time.time() - STALE_SECONDS:
            return  # history WeCom hands back on the very first pull
        kind = m.get("msgtype")
        if m.get("origin") != 3 and not (kind == "event" and event.get("event_type") == "enter_session"):
            return  # a WeCom servicer's line or a system event: not the bot's to answer
        await self.state.set_route(external, kfid)
        customer = Customer(self.account.tenant_id, f"kf-{external}", NAME)  # type: ignore[union-attr]
        conversation = customer.conversation_id()
        lock, n = self._locks.get(conversation) or (asyncio.Lock(), 0)
        self._locks[conversation] = (lock, n + 1)
        self._hold(asyncio.ensure_future(self._turn(lock, customer, conversation, m, event, on_new_message)))

    async def _turn(self, lock: asyncio.Lock, customer: Customer, conversation: str, m: dict[str, Any],
                    event: dict[str, Any], on_new_message: OnMessage) -> None:  # fmt: skip
        try:
            async with lock:
                await self._answer(customer, conversation, m, event, on_new_message)
        finally:
            held, n = self._locks[conversation]
            if n <= 1:
                del self._locks[conversation]
            else:
                self._locks[conversation] = (held, n - 1)

    async def _answer(self, customer: Customer, conversation: str, m: dict[str, Any], event: dict[str, Any],
                      on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:  # fmt: skip
        out = self.get_output_channel()
        assert isinstance(out, KfOutput)
        text, metadata = await self._text_of(m, conversation)
        if event.get("event_type") == "enter_session":
            text = GREETING
        if text is None:
            await out.send_messages(conversation, [{"text": ONLY_TEXT if metadata is None else PHOTO_LOST}])
            return
        decision = await self.gateway.admit(conversation, None)
        if not decision.allowed:
            await out.send_messages(conversation, [{"text": slow_down_text(decision)}])
            return
        screened = await self.gateway.screen(customer, conversation, text)
        if screened.refusal:  # content safety: answered here, never seen by the NLU
            await out.send_messages(conversation, [{"text": screened.refusal}])
            return
        text = screened.text
        collector = CollectingOutputChannel()
        meta = {**self.gateway.metadata(customer, conversation, None), **(metadata or {})}
        await on_new_message(UserMessage(text, collector, conversation, input_channel=NAME, metadata=meta))
        if not collector.messages:
            return
        code = str(event.get("welcome_code") or "")
        if code:  # the greeting goes with the event's code (it needs no 48-hour window)
            reply, _ = as_text(collector.messages)
            await self.api.send_on_event(code, reply)  # type: ignore[union-attr]
        else:
            await out.send_messages(conversation, collector.messages)

    async def _text_of(self, m: dict[str, Any], conversation: str) -> tuple[str | None, dict[str, Any] | None]:
        """What the bot hears (None: nothing it can read) and metadata (a photo; {} when a photo was lost)."""
        kind = m.get("msgtype")
        if kind == "text" and isinstance(m.get("text"), dict):
            t = m["text"]
            if t.get("menu_id"):  # a tapped menu line: its number picks the choice
                return await self.choices.resolve(conversation, str(t["menu_id"])), None
            return str(t.get("content") or "")[:2000] or None, None
        if kind == "image" and isinstance(m.get("image"), dict) and m["image"].get("media_id"):
            file = await self._photo(str(m["image"]["media_id"]))
            return (FILE_PAYLOAD, {"file": file}) if file else (None, {})
        if kind == "event":
            return None, None
        return None, None

    async def _photo(self, media_id: str) -> dict[str, str] | None:
        files = self._files()
        try:
            data = await self.api.media(media_id, files.max_bytes)  # type: ignore[union-attr]
            if data is None:
                return None
            tenant = self.account.tenant_id  # type: ignore[union-attr]
            stored = await asyncio.get_running_loop().run_in_executor(None, files.save, tenant, "微信图片", data)
        except (WeChatApiError, Rejected, OSError, asyncio.TimeoutError) as exc:
            log.info("wecom_kf: a customer's photo was not kept: %s", exc)
            return None
        return {"url": stored.url, "name": stored.name, "content_type": stored.content_type}


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("wecom_kf: %s", task.exception())
