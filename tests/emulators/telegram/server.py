"""A Telegram Bot API server for tests and benchmarks: real HTTP, documented JSON shapes.

The bot under test talks to it exactly as to api.telegram.org (aiogram:
``AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))``): ``POST
/bot<token>/<method>`` with multipart/form-data (what aiogram sends), urlencoded or JSON; files
download from ``/file/bot<token>/<file_path>``. Answers are ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``.

Methods: getMe, getUpdates (long polling: ``offset`` confirms, ``timeout`` waits; 409 while a
webhook is set), setWebhook / deleteWebhook / getWebhookInfo (updates are then POSTed to the
URL with ``X-Telegram-Bot-Api-Secret-Token``, up to ``max_connections`` at once), sendMessage,
sendMessageDraft (private chats only), editMessageText, editMessageCaption,
editMessageReplyMarkup, editMessageMedia, deleteMessage, sendPhoto / sendDocument / sendAudio /
sendVoice (multipart upload, a known ``file_id``, or a URL), sendChatAction,
answerCallbackQuery, setMyCommands / getMyCommands / deleteMyCommands, setChatMenuButton,
getFile, getChat, sendInvoice, createInvoiceLink, answerPreCheckoutQuery, refundStarPayment,
editUserStarSubscription, getStarTransactions. Unknown methods answer 404 "Not Found: method not
found", like the real server.

Telegram Stars: `charge_stars(user, payload, amount, subscription_period=...)` is a person paying
an invoice: the emulator records the incoming StarTransaction (``source``: TransactionPartnerUser
with ``transaction_type`` "invoice_payment", ``invoice_payload``, ``subscription_period``) and
returns the SuccessfulPayment to send to the bot (`TelegramUser.pay_stars` does both).
`renew_star_subscription(charge_id)` is Telegram charging a subscription's next period; a
subscription the bot cancelled (``editUserStarSubscription`` with ``is_canceled`` true) is not
renewed. ``refundStarPayment`` adds the outgoing refund transaction (same ``id`` as the payment,
``receiver`` the user) and answers 400 CHARGE_ALREADY_REFUNDED the second time.
``getStarTransactions`` pages the bot's transactions in chronological order (``offset`` to skip,
``limit`` 1-100, default 100). Charge ids the emulator never made (payments that tests record
directly) are accepted by refundStarPayment and editUserStarSubscription without bookkeeping.

Validation like Telegram: text 1-4096 UTF-16 units after entity parsing ("message is too long"
/ "message text is empty"), captions <= 1024, HTML checked as Telegram does ("can't parse
entities: ..."), unknown chats ("chat not found"), blocked users (403), edits of missing
messages and edits that change nothing ("message is not modified"), stale callback queries.

Webhook deliveries answered with an error (or not at all) are repeated, as Telegram does,
after the pauses in `redeliver_after_s` (default: none, one attempt); each attempt is a
`WebhookDelivery` in `deliveries`.

Flood control: `set_rate_limit(count, window_s, methods=...)` limits calls per chat, and
`set_global_rate_limit(...)` calls over all chats together; beyond either the answer is 429 with
``parameters.retry_after`` (seconds until the window frees a slot).
`fail_next(method, ...)` scripts one-off errors for any method, e.g.
``fail_next("editUserStarSubscription", error_code=500)`` answers the next such call with
500 "Internal Server Error". `on_call(method, callback)` awaits ``callback(params)`` when a call
to `method` arrives, before it is answered (or failed as scripted), so a test can look at the
bot's world at that moment. Every call is recorded (`calls`), with the time it arrived, so
tests can check pacing; `wait_for` lets a test await a call.

The user side (sending updates as a person would) is `tests.emulators.telegram.client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import secrets
import socket
import ssl
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.emulators.telegram.html import EntityParseError, parse_html, utf16_len

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
DEFAULT_TOKEN = "123456:TEST-emulator-token"

# Form fields that are strings even when they look like JSON or numbers.
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "secret_token",
        "title",
        "description",
        "payload",
        "currency",
        "action",
        "emoji",
        "pre_checkout_query_id",
        "error_message",
        "file_id",
        "photo",
        "document",
        "audio",
        "voice",
        "video",
        "video_note",
        "animation",
        "sticker",
        "provider_token",
        "start_parameter",
        "language_code",
        "telegram_payment_charge_id",
        "ip_address",
        "inline_message_id",
        "show_alert_text",
    }
)
_MEDIA_FIELDS = ("photo", "document", "audio", "voice", "video", "animation", "video_note")


@dataclass
class ApiCall:
    """One request the bot made, and what the emulator answered."""

    method: str
    params: dict[str, Any]
    files: dict[str, StoredFile]
    at: float  # time.monotonic() when the request arrived
    chat_id: int | None
    ok: bool = True
    error_code: int | None = None
    description: str | None = None
    result: Any = None

    def upload(self, field: str) -> StoredFile | None:
        """The file sent in `field` (aiogram sends ``attach://<name>`` and the file apart)."""
        if field in self.files:
            return self.files[field]
        ref = self.params.get(field)
        if isinstance(ref, str) and ref.startswith("attach://"):
            return self.files.get(ref.removeprefix("attach://"))
        return None

    @property
    def raw_text(self) -> str | None:
        """The text or caption exactly as the bot sent it (HTML and all)."""
        source = self.params
        media = self.params.get("media")
        if "text" not in source and "caption" not in source and isinstance(media, dict):
            source = media
        value = source.get("text", source.get("caption"))
        return None if value is None else str(value)

    @property
    def text(self) -> str | None:
        """The text or caption as the user sees it (HTML parsed when parse_mode=HTML)."""
        raw = self.raw_text
        media = self.params.get("media")
        mode = self.params.get("parse_mode") or (
            media.get("parse_mode") if isinstance(media, dict) else None
        )
        if raw is None or str(mode).upper() != "HTML":
            return raw
        try:
            return parse_html(raw)
        except EntityParseError:
            return raw


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class WebhookDelivery:
    update_id: int
    chat_id: int | None
    sent_at: float
    done_at: float | None = None
    status: int | None = None
    error: str | None = None
    url: str | None = None


@dataclass
class _Scripted:
    method: str
    error_code: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None


@dataclass
class _RateLimit:
    count: int
    window_s: float
    methods: frozenset[str] | None  # None: every method that targets a chat
    hits: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))


class ApiError(Exception):
    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TelegramBotAPIEmulator:
    """Start with ``async with TelegramBotAPIEmulator() as tg:``; point the bot at `base_url`."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "companion_test_bot",
        bot_name: str = "Companion",
        drafts_supported: bool = True,
        port: int | None = None,
        webhook_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.token = token
        # Trust for an https webhook with a self-signed certificate (Telegram takes the
        # certificate in setWebhook's `certificate`; here the test hands over its CA).
        self.webhook_ssl = webhook_ssl
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        # False: sendMessageDraft answers 404 like a Bot API server older than 9.3.
        self.drafts_supported = drafts_supported
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

        self.calls: list[ApiCall] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.blocked: set[int] = set()
        # (chat_id, message_id) -> the message as the Bot API would return it (current state).
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.answered_callbacks: dict[str, dict[str, Any]] = {}
        self.pre_checkout_answers: dict[str, dict[str, Any]] = {}
        # Telegram Stars: the bot's transactions (chronological), its users' subscriptions by
        # the first charge id, and which charges were refunded.
        self.star_transactions: list[dict[str, Any]] = []
        self.star_subscriptions: dict[str, dict[str, Any]] = {}
        self.star_charges: dict[str, dict[str, Any]] = {}
        self.star_refunded: set[str] = set()
        self.webhook: dict[str, Any] | None = None
        self.deliveries: list[WebhookDelivery] = []
        # A load balancer in front of several webhook workers: updates go round-robin to these
        # URLs instead of the registered one (the secret token is still sent).
        self.webhook_targets: list[str] = []
        # Pauses before Telegram repeats a webhook delivery answered with an error or not at all
        # (e.g. ``(1, 2, 4)``: three repeats); empty: no repeats.
        self.redeliver_after_s: tuple[float, ...] = ()
        self._next_target = 0
        self.updates_sent: dict[int, float] = {}  # update_id -> when it left the emulator

        self._next_message_id: dict[int, int] = defaultdict(lambda: 1)
        self._next_update_id = 1
        self._pending: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._call_signal = asyncio.Condition()
        self._scripted: list[_Scripted] = []
        self._observers: dict[str, list[Callable[[dict[str, Any]], Awaitable[object]]]] = (
            defaultdict(list)
        )
        self._rate_limit: _RateLimit | None = None
        self._global_limit: _RateLimit | None = None
        self._delivery_tasks: set[asyncio.Task[None]] = set()
        self._webhook_sem: asyncio.Semaphore | None = None
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._file_counter = 0
        self._handlers: dict[str, Callable[[dict[str, Any], dict[str, StoredFile]], Any]] = {
            "getMe": lambda p, f: self.bot_user,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendMessageDraft": self._send_message_draft,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageMedia": self._edit_message_media,
            "deleteMessage": self._delete_message,
            "sendPhoto": lambda p, f: self._send_media("photo", p, f),
            "sendDocument": lambda p, f: self._send_media("document", p, f),
            "sendAudio": lambda p, f: self._send_media("audio", p, f),
            "sendVoice": lambda p, f: self._send_media("voice", p, f),
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": lambda p, f: True,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "sendInvoice": self._send_invoice,
            "createInvoiceLink": self._create_invoice_link,
            "answerPreCheckoutQuery": self._answer_pre_checkout_query,
            "refundStarPayment": self._refund_star_payment,
            "editUserStarSubscription": self._edit_user_star_subscription,
            "getStarTransactions": self._get_star_transactions,
            "close": lambda p, f: True,
            "logOut": lambda p, f: True,
        }

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> TelegramBotAPIEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._http = aiohttp.ClientSession()

    async def stop(self) -> None:
        for task in list(self._delivery_tasks):
            task.cancel()
        for task in list(self._delivery_tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ scripting

    def set_rate_limit(
        self, count: int, window_s: float, methods: Iterable[str] | None = None
    ) -> None:
        """At most `count` calls per chat per `window_s` (to `methods`, or any chat method)."""
        self._rate_limit = _RateLimit(count, window_s, frozenset(methods) if methods else None)

    def clear_rate_limit(self) -> None:
        self._rate_limit = None
        self._global_limit = None

    def set_global_rate_limit(
        self, count: int, window_s: float, methods: Iterable[str] | None = None
    ) -> None:
        """At most `count` calls per `window_s` over all chats together, like Telegram's limit
        on bulk notifications (about 30 messages a second): beyond it, 429 with retry_after."""
        self._global_limit = _RateLimit(count, window_s, frozenset(methods) if methods else None)

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """The next `times` calls to `method` (for `chat_id`, if given) fail as scripted."""
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after or 1}"
                if error_code == 429
                else "Internal Server Error"
            )
        if error_code == 429 and retry_after is None:
            retry_after = 1
        self._scripted.append(
            _Scripted(method, error_code, description, retry_after, times, chat_id)
        )

    def on_call(self, method: str, callback: Callable[[dict[str, Any]], Awaitable[object]]) -> None:
        """Await `callback(params)` on every call to `method`, before answering it."""
        self._observers[method].append(callback)

    def block(self, user_id: int) -> None:
        self.blocked.add(user_id)

    # ------------------------------------------------------------------ state for clients

    def register_user(self, user: dict[str, Any]) -> None:
        self.users[user["id"]] = user
        self.chats.setdefault(
            user["id"],
            {
                "id": user["id"],
                "type": "private",
                "first_name": user.get("first_name", ""),
                **({"username": user["username"]} if user.get("username") else {}),
            },
        )

    def register_group(
        self, chat_id: int, title: str, *, supergroup: bool = True
    ) -> dict[str, Any]:
        chat = {"id": chat_id, "type": "supergroup" if supergroup else "group", "title": title}
        self.chats[chat_id] = chat
        return chat

    def next_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id[chat_id]
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def store_file(
        self,
        data: bytes,
        *,
        kind: str = "documents",
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        self._file_counter += 1
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"F{self._file_counter:06d}{secrets.token_hex(8)}",
            file_unique_id=f"U{self._file_counter:06d}",
            data=data,
            file_path=f"{kind}/file_{self._file_counter}{suffix}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def register_callback_query(self, query: dict[str, Any]) -> None:
        self.callback_queries[query["id"]] = query

    async def push_update(self, update: dict[str, Any]) -> int:
        """Give the bot an update (getUpdates queue, or a POST to its webhook)."""
        update_id = self._next_update_id
        self._next_update_id += 1
        update = {"update_id": update_id, **update}
        if self.webhook is not None:
            task = asyncio.create_task(self._deliver(update))
            self._delivery_tasks.add(task)
            task.add_done_callback(self._delivery_tasks.discard)
        else:
            self._pending.append(update)
            self._new_update.set()
        return update_id

    def calls_for(self, chat_id: int, method: str | None = None) -> list[ApiCall]:
        return [
            c for c in self.calls if c.chat_id == chat_id and (method is None or c.method == method)
        ]

    async def wait_for(
        self,
        predicate: Callable[[ApiCall], bool],
        *,
        start: int = 0,
        timeout: float = 10.0,
    ) -> tuple[int, ApiCall]:
        """The first recorded call at index >= start that matches; waits for it."""
        deadline = time.monotonic() + timeout
        async with self._call_signal:
            while True:
                for index in range(start, len(self.calls)):
                    if predicate(self.calls[index]):
                        return index, self.calls[index]
                start = len(self.calls)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no matching Bot API call")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._call_signal.wait(), remaining)

    async def wait_webhook_idle(self, timeout: float = 30.0) -> None:
        """Wait until every webhook delivery got its HTTP answer."""
        deadline = time.monotonic() + timeout
        while self._delivery_tasks:
            if time.monotonic() > deadline:
                raise TimeoutError("webhook deliveries still running")
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_method(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params, files = await self._read_params(request)
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            chat_id = None
        if chat_id is None and method == "answerCallbackQuery":
            query = self.callback_queries.get(str(params.get("callback_query_id")))
            if query is not None and query.get("message"):
                chat_id = query["message"]["chat"]["id"]
        call = ApiCall(method, params, files, arrived, chat_id)
        try:
            result = await self._dispatch(method, params, files, chat_id, arrived)
            call.result = result
            response = web.json_response({"ok": True, "result": result})
        except ApiError as exc:
            call.ok, call.error_code, call.description = False, exc.code, exc.description
            response = _error_response(exc)
        if method != "getUpdates":  # polls would drown the record of what the bot did
            self.calls.append(call)
            async with self._call_signal:
                self._call_signal.notify_all()
        return response

    async def _dispatch(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, StoredFile],
        chat_id: int | None,
        arrived: float,
    ) -> Any:
        handler = self._handlers.get(method)
        if handler is None or (method == "sendMessageDraft" and not self.drafts_supported):
            raise ApiError(404, "Not Found: method not found")
        for observer in self._observers.get(method, ()):
            await observer(params)
        self._check_scripted(method, chat_id)
        if chat_id is not None:
            self._check_rate_limit(method, chat_id, arrived)
            self._check_limit(self._global_limit, method, 0, arrived)
        result = handler(params, files)
        if isinstance(result, Awaitable):
            result = await result
        return result

    def _check_scripted(self, method: str, chat_id: int | None) -> None:
        for script in self._scripted:
            if script.method != method or script.times <= 0:
                continue
            if script.chat_id is not None and script.chat_id != chat_id:
                continue
            script.times -= 1
            parameters = {"retry_after": script.retry_after} if script.retry_after else None
            raise ApiError(script.error_code, script.description, parameters)

    def _check_rate_limit(self, method: str, chat_id: int, now: float) -> None:
        self._check_limit(self._rate_limit, method, chat_id, now)

    def _check_limit(self, limit: _RateLimit | None, method: str, key: int, now: float) -> None:
        if limit is None or method in ("getUpdates", "getMe", "answerCallbackQuery"):
            return
        if limit.methods is not None and method not in limit.methods:
            return
        hits = limit.hits[key]
        while hits and now - hits[0] >= limit.window_s:
            hits.popleft()
        if len(hits) >= limit.count:
            retry_after = max(1, math.ceil(limit.window_s - (now - hits[0])))
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        hits.append(now)

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, StoredFile]]:
        params: dict[str, Any] = {}
        files: dict[str, StoredFile] = {}
        if request.method == "GET":
            raw: dict[str, Any] = dict(request.query)
        elif request.content_type == "application/json":
            body = await request.read()
            raw = json.loads(body) if body else {}
            params.update(raw)
            return params, files
        else:
            form = await request.post()
            raw = {}
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    files[key] = self.store_file(
                        data,
                        kind="uploads",
                        file_name=value.filename,
                        mime_type=value.content_type,
                    )
                else:
                    raw[key] = value
        for key, value in raw.items():
            params[key] = _decode_field(key, value)
        return params, files

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    # ------------------------------------------------------------------ updates and webhook

    async def _get_updates(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while True:
            ready = [u for u in self._pending if u["update_id"] >= offset][:limit]
            if ready or time.monotonic() >= deadline:
                now = time.monotonic()
                for update in ready:
                    self.updates_sent.setdefault(update["update_id"], now)
                return ready
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())

    def _set_webhook(self, params: dict[str, Any], files: dict[str, StoredFile]) -> bool:
        url = params.get("url")
        if not url:
            return self._delete_webhook(params, files)
        secret = params.get("secret_token")
        if secret is not None and not all(c.isalnum() or c in "_-" for c in str(secret)):
            raise _bad("secret token contains unallowed characters")
        max_connections = int(params.get("max_connections") or 40)
        self.webhook = {
            "url": str(url),
            "secret_token": None if secret is None else str(secret),
            "max_connections": max_connections,
            "allowed_updates": params.get("allowed_updates"),
        }
        self._webhook_sem = asyncio.Semaphore(max_connections)
        pending, self._pending = self._pending, []
        if not params.get("drop_pending_updates"):
            for update in pending:
                task = asyncio.create_task(self._deliver(update))
                self._delivery_tasks.add(task)
                task.add_done_callback(self._delivery_tasks.discard)
        return True

    def _delete_webhook(self, params: dict[str, Any], files: dict[str, StoredFile]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _get_webhook_info(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        hook = self.webhook or {}
        return {
            "url": hook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
            "max_connections": hook.get("max_connections", 40),
        }

    async def _deliver(self, update: dict[str, Any]) -> None:
        # Telegram repeats a delivery that did not get a 2xx answer ("we will repeat the request
        # and give up after a reasonable amount of attempts"); `redeliver_after_s` scripts the
        # pauses before each repeat (empty: one attempt, the default).
        for pause in (*self.redeliver_after_s, None):
            delivery = await self._deliver_once(update)
            if delivery is None or (delivery.status is not None and 200 <= delivery.status < 300):
                return
            if pause is None:
                return
            await asyncio.sleep(pause)

    async def _deliver_once(self, update: dict[str, Any]) -> WebhookDelivery | None:
        hook = self.webhook
        if hook is None or self._http is None or self._webhook_sem is None:
            return None
        headers = {"Content-Type": "application/json"}
        if hook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        async with self._webhook_sem:
            delivery = WebhookDelivery(update["update_id"], _update_chat_id(update), 0.0)
            self.deliveries.append(delivery)
            delivery.sent_at = time.monotonic()
            self.updates_sent[update["update_id"]] = delivery.sent_at
            url = hook["url"]
            if self.webhook_targets:
                url = self.webhook_targets[self._next_target % len(self.webhook_targets)]
                self._next_target += 1
            delivery.url = url
            try:
                async with self._http.post(
                    url, data=json.dumps(update), headers=headers, ssl=self.webhook_ssl or True
                ) as response:
                    delivery.status = response.status
                    body = await response.read()
                    # A webhook may answer with a method call (aiogram: handle_in_background=False).
                    if response.status == 200 and body:
                        with contextlib.suppress(ValueError):
                            reply = json.loads(body)
                            if isinstance(reply, dict) and reply.get("method"):
                                await self._run_webhook_reply(reply)
            except aiohttp.ClientError as exc:
                delivery.error = repr(exc)
            finally:
                delivery.done_at = time.monotonic()
        return delivery

    async def _run_webhook_reply(self, reply: dict[str, Any]) -> None:
        method = str(reply.pop("method"))
        chat_id = reply.get("chat_id") if isinstance(reply.get("chat_id"), int) else None
        call = ApiCall(method, reply, {}, time.monotonic(), chat_id)
        try:
            call.result = await self._dispatch(method, reply, {}, chat_id, call.at)
        except ApiError as exc:
            call.ok, call.error_code, call.description = False, exc.code, exc.description
        self.calls.append(call)
        async with self._call_signal:
            self._call_signal.notify_all()

    # ------------------------------------------------------------------ messages

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if not isinstance(chat_id, int) or chat_id not in self.chats:
            raise _bad("chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return self.chats[chat_id]

    def _visible(self, text: Any, parse_mode: Any, *, limit: int, what: str) -> str:
        visible: str = "" if text is None else str(text)
        if parse_mode and str(parse_mode).upper() == "HTML":
            try:
                visible = parse_html(visible)
            except EntityParseError as exc:
                raise ApiError(400, exc.description) from exc
        elif parse_mode and str(parse_mode).lower() not in ("markdown", "markdownv2"):
            raise _bad(f"unsupported parse_mode {parse_mode}")
        if utf16_len(visible) > limit:
            raise _bad(f"{what} is too long")
        return visible

    def _new_message(self, chat: dict[str, Any], **fields: Any) -> dict[str, Any]:
        message = {
            "message_id": self.next_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
            **{k: v for k, v in fields.items() if v is not None},
        }
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _send_message(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        chat = self._chat(params.get("chat_id"))
        text = self._visible(
            params.get("text"), params.get("parse_mode"), limit=TEXT_LIMIT, what="message"
        )
        if not text.strip():
            raise _bad("message text is empty")
        return self._new_message(
            chat, text=text, reply_markup=_inline_markup(params.get("reply_markup"))
        )

    def _send_message_draft(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if chat["type"] != "private":
            raise _bad("TEXTDRAFT_PEER_INVALID")
        if not params.get("draft_id"):
            raise _bad("draft_id must be non-zero")
        self._visible(
            params.get("text"), params.get("parse_mode"), limit=TEXT_LIMIT, what="message"
        )
        return True

    def _message_to_edit(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        message = self.messages.get((chat["id"], params.get("message_id")))  # type: ignore[arg-type]
        if message is None or message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message to edit not found")
        return message

    def _edit_message_text(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        message = self._message_to_edit(params)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        text = self._visible(
            params.get("text"), params.get("parse_mode"), limit=TEXT_LIMIT, what="message"
        )
        if not text.strip():
            raise _bad("message text is empty")
        markup = _inline_markup(params.get("reply_markup"))
        if text == message["text"] and markup == message.get("reply_markup"):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message["text"] = text
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    def _edit_message_caption(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        message = self._message_to_edit(params)
        caption = self._visible(
            params.get("caption"),
            params.get("parse_mode"),
            limit=CAPTION_LIMIT,
            what="message caption",
        )
        markup = _inline_markup(params.get("reply_markup"))
        if caption == message.get("caption", "") and markup == message.get("reply_markup"):
            raise _bad("message is not modified")
        message["caption"] = caption
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    def _edit_message_reply_markup(
        self, params: dict[str, Any], files: dict[str, StoredFile]
    ) -> Any:
        message = self._message_to_edit(params)
        markup = _inline_markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise _bad("message is not modified")
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    def _edit_message_media(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        message = self._message_to_edit(params)
        media = params.get("media")
        if not isinstance(media, dict) or media.get("type") not in _MEDIA_FIELDS:
            raise _bad("can't parse InputMedia: media not found")
        kind = str(media["type"])
        stored = self._resolve_file(str(media.get("media", "")), files)
        caption = self._visible(
            media.get("caption"),
            media.get("parse_mode"),
            limit=CAPTION_LIMIT,
            what="message caption",
        )
        if _same_media(message.get(kind), stored) and (
            caption == message.get("caption", "")
            and _inline_markup(params.get("reply_markup")) == message.get("reply_markup")
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        for old in _MEDIA_FIELDS:
            message.pop(old, None)
        message.pop("text", None)
        message[kind] = _media_object(kind, stored)
        if caption:
            message["caption"] = caption
        else:
            message.pop("caption", None)
        _set_markup(message, _inline_markup(params.get("reply_markup")))
        message["edit_date"] = int(time.time())
        return message

    def _delete_message(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if self.messages.pop((chat["id"], params.get("message_id")), None) is None:  # type: ignore[arg-type]
            raise _bad("message to delete not found")
        return True

    def _resolve_file(self, ref: str, files: dict[str, StoredFile]) -> StoredFile:
        if ref.startswith("attach://"):
            stored = files.get(ref.removeprefix("attach://"))
            if stored is None:
                raise _bad("can't parse InputMedia: attached file not found")
            return stored
        if ref in self.files:
            return self.files[ref]
        if ref.startswith(("http://", "https://")):
            return self.store_file(b"", kind="remote", file_name=ref.rsplit("/", 1)[-1])
        raise _bad("wrong file identifier/HTTP URL specified")

    def _send_media(self, kind: str, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if kind in files:
            stored = files[kind]
        elif params.get(kind):
            stored = self._resolve_file(str(params[kind]), files)
        else:
            raise _bad(f"there is no {kind} in the request")
        if (
            not stored.data
            and kind in ("photo", "document")
            and not stored.file_path.startswith("remote/")
        ):
            raise _bad("file must be non-empty")
        caption = self._visible(
            params.get("caption"),
            params.get("parse_mode"),
            limit=CAPTION_LIMIT,
            what="message caption",
        )
        return self._new_message(
            chat,
            caption=caption or None,
            reply_markup=_inline_markup(params.get("reply_markup")),
            **{kind: _media_object(kind, stored)},
        )

    def _send_chat_action(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        self._chat(params.get("chat_id"))
        if not params.get("action"):
            raise _bad("wrong parameter action in request")
        return True

    def _answer_callback_query(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        query_id = str(params.get("callback_query_id"))
        if query_id not in self.callback_queries or query_id in self.answered_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self.answered_callbacks[query_id] = params
        return True

    def _set_my_commands(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("commands must be a list of at most 100 commands")
        for command in commands:
            name = str(command.get("command", ""))
            if not (1 <= len(name) <= 32) or not all(
                c.islower() or c.isdigit() or c == "_" for c in name
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not (1 <= len(str(command.get("description", ""))) <= 256):
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        scope = (params.get("scope") or {}).get("type", "default")
        self.commands[(scope, str(params.get("language_code") or ""))] = commands
        return True

    def _get_my_commands(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        scope = (params.get("scope") or {}).get("type", "default")
        return self.commands.get((scope, str(params.get("language_code") or "")), [])

    def _delete_my_commands(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        scope = (params.get("scope") or {}).get("type", "default")
        self.commands.pop((scope, str(params.get("language_code") or "")), None)
        return True

    def _get_file(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        stored = self.files.get(str(params.get("file_id")))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.size > 20 * 1024 * 1024:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    def _get_chat(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        chat = self._chat(params.get("chat_id"))
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11}

    # ------------------------------------------------------------------ payments (minimal)

    def _send_invoice(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        chat = self._chat(params.get("chat_id"))
        prices = params.get("prices")
        if not isinstance(prices, list) or not prices:
            raise _bad("prices must be non-empty")
        currency = str(params.get("currency") or "")
        if currency != "XTR" and not params.get("provider_token"):
            raise _bad("PAYMENT_PROVIDER_INVALID")
        return self._new_message(
            chat,
            invoice={
                "title": params.get("title"),
                "description": params.get("description"),
                "start_parameter": params.get("start_parameter") or "",
                "currency": currency,
                "total_amount": sum(int(p["amount"]) for p in prices),
            },
            reply_markup=_inline_markup(params.get("reply_markup")),
        )

    def _create_invoice_link(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        if not params.get("prices"):
            raise _bad("prices must be non-empty")
        return f"https://t.me/$invoice{secrets.token_hex(6)}"

    def _answer_pre_checkout_query(
        self, params: dict[str, Any], files: dict[str, StoredFile]
    ) -> Any:
        query_id = str(params.get("pre_checkout_query_id"))
        if query_id in self.pre_checkout_answers:
            raise _bad("QUERY_ID_INVALID")
        if params.get("ok") is False and not params.get("error_message"):
            raise _bad("error_message is required when ok is false")
        self.pre_checkout_answers[query_id] = params
        return True

    def _edit_user_star_subscription(
        self, params: dict[str, Any], files: dict[str, StoredFile]
    ) -> Any:
        if not params.get("user_id") or not params.get("telegram_payment_charge_id"):
            raise _bad("user_id and telegram_payment_charge_id are required")
        if "is_canceled" not in params:
            raise _bad("is_canceled is required")
        charge = self.star_charges.get(str(params["telegram_payment_charge_id"]))
        if charge is None:
            return True  # a charge the emulator did not make (recorded directly by a test)
        if charge["user"]["id"] != params["user_id"]:
            raise _bad("USER_ID_INVALID")
        subscription = self.star_subscriptions.get(charge["subscription_id"] or "")
        if subscription is None:
            raise _bad("SUBSCRIPTION_ID_INVALID")  # a one-off payment is no subscription
        subscription["canceled"] = bool(params["is_canceled"])
        return True

    # ------------------------------------------------------------------ Telegram Stars

    def charge_stars(
        self,
        user: dict[str, Any],
        payload: str,
        amount: int,
        *,
        subscription_period: int | None = None,
    ) -> dict[str, Any]:
        """A person pays an invoice in Stars: the transaction is recorded, and the
        SuccessfulPayment the bot is sent is returned (put it in a message from `user`)."""
        charge_id = f"stxn{len(self.star_charges) + 1:05d}{secrets.token_hex(6)}"
        now = int(time.time())
        subscription_id = charge_id if subscription_period else None
        expires = now + subscription_period if subscription_period else None
        if subscription_id is not None and subscription_period is not None:
            self.star_subscriptions[subscription_id] = {
                "user": user,
                "payload": payload,
                "amount": amount,
                "period": subscription_period,
                "expires": expires,
                "canceled": False,
            }
        return self._star_charge(
            charge_id, user, payload, amount, subscription_id, subscription_period, expires, True
        )

    def renew_star_subscription(
        self, subscription_id: str, *, even_if_canceled: bool = False
    ) -> dict[str, Any] | None:
        """Telegram charges the next period of a subscription: the SuccessfulPayment (with
        ``is_recurring``) for the bot, or None when the bot cancelled the subscription.
        `even_if_canceled` models a charge Telegram made before the cancellation reached it."""
        subscription = self.star_subscriptions[subscription_id]
        if subscription["canceled"] and not even_if_canceled:
            return None
        subscription["expires"] += subscription["period"]
        charge_id = f"stxn{len(self.star_charges) + 1:05d}{secrets.token_hex(6)}"
        return self._star_charge(
            charge_id,
            subscription["user"],
            subscription["payload"],
            subscription["amount"],
            subscription_id,
            subscription["period"],
            subscription["expires"],
            False,
        )

    def _star_charge(
        self,
        charge_id: str,
        user: dict[str, Any],
        payload: str,
        amount: int,
        subscription_id: str | None,
        period: int | None,
        expires: int | None,
        first: bool,
    ) -> dict[str, Any]:
        partner: dict[str, Any] = {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": user,
            "invoice_payload": payload,
        }
        if period:
            partner["subscription_period"] = period
        self.star_transactions.append(
            {"id": charge_id, "amount": amount, "date": int(time.time()), "source": partner}
        )
        self.star_charges[charge_id] = {
            "user": user,
            "amount": amount,
            "payload": payload,
            "subscription_id": subscription_id,
        }
        paid: dict[str, Any] = {
            "currency": "XTR",
            "total_amount": amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        if subscription_id is not None:
            paid.update(
                subscription_expiration_date=expires,
                is_recurring=True,
                is_first_recurring=first,
            )
        return paid

    def _refund_star_payment(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        if not params.get("user_id") or not params.get("telegram_payment_charge_id"):
            raise _bad("user_id and telegram_payment_charge_id are required")
        charge_id = str(params["telegram_payment_charge_id"])
        charge = self.star_charges.get(charge_id)
        if charge is None:
            return True  # a charge the emulator did not make (recorded directly by a test)
        if charge["user"]["id"] != params["user_id"]:
            raise _bad("USER_ID_INVALID")
        if charge_id in self.star_refunded:
            raise _bad("CHARGE_ALREADY_REFUNDED")
        self.star_refunded.add(charge_id)
        self.star_transactions.append(
            {
                "id": charge_id,  # a refund has the id of the payment it returns
                "amount": charge["amount"],
                "date": int(time.time()),
                "receiver": {
                    "type": "user",
                    "transaction_type": "invoice_payment",
                    "user": charge["user"],
                    "invoice_payload": charge["payload"],
                },
            }
        )
        return True

    def _get_star_transactions(self, params: dict[str, Any], files: dict[str, StoredFile]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        if not 1 <= limit <= 100:
            raise _bad("limit must be between 1 and 100")
        if offset < 0:
            raise _bad("offset must be non-negative")
        return {"transactions": self.star_transactions[offset : offset + limit]}

    def star_refunds(self) -> list[dict[str, Any]]:
        """The outgoing (refund) transactions, oldest first."""
        return [t for t in self.star_transactions if "receiver" in t]


# ---------------------------------------------------------------------- helpers


def _error_response(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.code)


def _decode_field(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _inline_markup(markup: Any) -> dict[str, Any] | None:
    if isinstance(markup, str):
        markup = json.loads(markup)
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not (1 <= len(str(data).encode()) <= 64):
                    raise _bad("BUTTON_DATA_INVALID")
        return markup
    return None


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


def _same_media(current: Any, stored: StoredFile) -> bool:
    """Whether a message's media (a photo's sizes, or one object) is already this file."""
    if isinstance(current, list) and current:
        current = current[-1]
    return isinstance(current, dict) and current.get("file_unique_id") == stored.file_unique_id


def _media_object(kind: str, stored: StoredFile) -> Any:
    base = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
    }
    if kind == "photo":
        width, height = _image_size(stored.data)
        return [{**base, "width": width, "height": height}]
    if kind in ("voice", "audio", "video_note", "video"):
        return {**base, "duration": 1, "mime_type": stored.mime_type or "audio/ogg"}
    return {
        **base,
        "file_name": stored.file_name or "file",
        "mime_type": stored.mime_type or "application/octet-stream",
    }


def _image_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except Exception:  # not an image the emulator can read: Telegram would still store it
        return 1, 1


def _update_chat_id(update: dict[str, Any]) -> int | None:
    for key in ("message", "edited_message", "channel_post"):
        if key in update:
            return int(update[key]["chat"]["id"])
    if "callback_query" in update:
        message = update["callback_query"].get("message")
        return int(message["chat"]["id"]) if message else None
    for key in ("pre_checkout_query", "my_chat_member"):
        if key in update:
            return int(update[key]["from"]["id"])
    return None
