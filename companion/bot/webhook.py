"""The webhook worker: an aiohttp server answering Telegram's POSTs, /healthz and /readyz.

Requests without the right ``X-Telegram-Bot-Api-Secret-Token`` get 401 and are not processed.
Each update is claimed in Redis before the 200 (`companion.bot.delivery`), then handled in the
background with at most ``telegram.max_concurrent_updates`` in flight. Several processes may
share the port (``SO_REUSEPORT``). On SIGTERM a worker stops taking updates (503: Telegram
sends them again, to a worker still up), lets replies in flight finish (up to
``telegram.shutdown_timeout_s`` in all; what is still running then is cancelled and logged, see
`companion.shutdown`) and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from pydantic import ValidationError
from redis.exceptions import RedisError

from companion.bot import bad_updates
from companion.bot.delivery import CLAIMED, UpdateDelivery
from companion.bot.readiness import Readiness, add_health_routes
from companion.bot.runner import BotConfigError
from companion.config import TelegramSettings
from companion.legal.web import setup_legal_routes
from companion.shutdown import finish_or_abandon

log = logging.getLogger(__name__)

# Once the app's shutdown hooks ran, how long the server waits for requests still being
# answered (each only claims in Redis or answers 503 by then) before it cancels them.
REQUEST_SHUTDOWN_TIMEOUT_S = 5.0


class BoundedRequestHandler(SimpleRequestHandler):
    """aiogram's webhook handler, answering at once and handling the update in the background,
    but with at most `max_concurrency` updates in flight: while the worker is full the answer
    waits, so Telegram (limited by ``max_connections``) keeps the rest queued on its side."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        secret_token: str,
        max_concurrency: int,
        shutdown_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(dispatcher, bot, handle_in_background=True, secret_token=secret_token)
        self._slots = asyncio.Semaphore(max(1, max_concurrency))
        self._tasks: set[asyncio.Task[None]] = set()
        self._shutdown_timeout_s = shutdown_timeout_s
        # When the shutdown began (loop time); None while serving.
        self._stopping_since: float | None = None

    def register(self, app: web.Application, /, path: str, **kwargs: Any) -> None:
        # First of the shutdown hooks, before the dispatcher's (`setup_application`): from then
        # on no update is taken, and one budget covers all the waiting that follows.
        app.on_shutdown.insert(0, self._stop_taking)
        super().register(app, path=path, **kwargs)

    async def _stop_taking(self, app: web.Application) -> None:
        self._stopping_since = asyncio.get_running_loop().time()

    async def close(self) -> None:
        """On shutdown, after the dispatcher's (which waits for updates in handlers): give the
        admitted updates what is left of ``shutdown_timeout_s``, cancel the rest (logged), then
        close the bot's HTTP session."""
        started = self._stopping_since
        if started is None:  # closed without the app's shutdown (a test, another runner)
            started = self._stopping_since = asyncio.get_running_loop().time()
        left = self._shutdown_timeout_s - (asyncio.get_running_loop().time() - started)
        await finish_or_abandon(self._tasks, left, what="webhook update(s)")
        await super().close()

    async def handle(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not self.verify_secret(token, self.bot):
            bad_updates.count(self.dispatcher.workflow_data.get("metrics"), bad_updates.BAD_SECRET)
            log.warning("webhook request with a wrong secret token refused")
            return web.Response(body="Unauthorized", status=401)
        if self._stopping_since is not None:
            return _shutting_down()
        await self._slots.acquire()
        if self._stopping_since is not None:  # it waited for a slot while the shutdown began
            self._slots.release()
            return _shutting_down()
        try:
            update = await request.json(loads=self.bot.session.json_loads)
        except Exception:
            self._slots.release()
            return web.Response(body="Bad Request", status=400)
        try:
            refused = await self._admit(update)
        except BaseException:  # the slot is ours until a task takes it: never leak it
            self._slots.release()
            raise
        if refused is not None:
            self._slots.release()
            return refused
        task = asyncio.create_task(self._feed(update), name=f"update {update_id_of(update)}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({}, dumps=self.bot.session.json_dumps)

    __call__ = handle

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        """Constant time, on bytes: a header with non-ASCII characters is a wrong secret (aiogram
        compares str, which raises TypeError for them: a 500 with a traceback)."""
        if not self.secret_token:
            return True
        try:
            given = telegram_secret_token.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(given, self.secret_token.encode("utf-8"))

    async def _admit(self, update: dict[str, Any]) -> web.Response | None:
        """Claim and hold the update before answering 200 (see `companion.bot.delivery`):
        None to handle it, else the answer: 200 for a duplicate, 503 when Redis cannot say
        (Telegram then delivers it again later, so it is not lost)."""
        delivery: UpdateDelivery = self.dispatcher.workflow_data["delivery"]
        update_id = update_id_of(update)
        if update_id is None:
            return None
        try:
            fresh = await delivery.claim(update_id, update)
        except RedisError as exc:
            log.warning("update %s refused for now (Redis: %s)", update_id, type(exc).__name__)
            return web.json_response(
                {"ok": False, "description": "temporarily unavailable"}, status=503
            )
        if not fresh:
            log.info("update %s was delivered again; already handled", update_id)
            return web.json_response({}, dumps=self.bot.session.json_dumps)
        return None

    async def _feed(self, update: dict[str, Any]) -> None:
        delivery: UpdateDelivery = self.dispatcher.workflow_data["delivery"]
        try:
            # Held while handled: if this worker dies, another answers it (a 200 is final for
            # Telegram); cut short by the shutdown, it is handed over at once.
            async with delivery.holding(update_id_of(update)):
                await self.dispatcher.feed_raw_update(self.bot, update, **{CLAIMED: True})
        except ValidationError as exc:
            if exc.title != Update.__name__:
                raise
            # Already answered 200, so Telegram will not send it again and again; the log
            # names the fields, never their values (they may be what someone wrote).
            bad_updates.invalid_update(update, exc, self.dispatcher.workflow_data.get("metrics"))
        finally:
            self._slots.release()


def update_id_of(update: object) -> int | None:
    """A raw update's `update_id`, or None when it has none: what is not an int, or is a
    bool (JSON `true` is an int to Python, and Redis refuses it as an argument), is no id."""
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _shutting_down() -> web.Response:
    """Not claimed, not handled: Telegram delivers it again, to a worker still serving."""
    return web.json_response({"ok": False, "description": "shutting down"}, status=503)


def create_webhook_app(bot: Bot, dp: Dispatcher, settings: TelegramSettings) -> web.Application:
    """The aiohttp app of one webhook worker: POST `webhook_path`, GET /healthz (liveness) and
    GET /readyz (database, Redis, model; 503 naming what is down).

    Requests without the right ``X-Telegram-Bot-Api-Secret-Token`` get 401 and are not
    processed."""
    if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
        raise BotConfigError(
            "telegram.webhook_secret is required in webhook mode (1-256 characters A-Z, a-z, "
            "0-9, _ and -): set COMPANION_TELEGRAM__WEBHOOK_SECRET"
        )
    app = web.Application()
    # Registered before the request handler's own shutdown (which closes the bot session), so
    # replies in flight finish first.
    setup_application(app, dp, bot=bot)
    BoundedRequestHandler(
        dispatcher=dp,
        bot=bot,
        secret_token=settings.webhook_secret.get_secret_value(),
        max_concurrency=settings.max_concurrent_updates,
        shutdown_timeout_s=settings.shutdown_timeout_s,
    ).register(app, path=settings.webhook_path)

    add_health_routes(app, readiness_of(dp))
    setup_legal_routes(app, dp.workflow_data["legal_pages"])
    return app


def webhook_runner(app: web.Application) -> web.AppRunner:
    """The runner of a webhook app. Its stop is bounded: the app's shutdown hooks bound their
    own waits (`telegram.shutdown_timeout_s`), and requests still open after them get
    `REQUEST_SHUTDOWN_TIMEOUT_S` (aiohttp's default is a minute, twice)."""
    return web.AppRunner(app, access_log=None, shutdown_timeout=REQUEST_SHUTDOWN_TIMEOUT_S)


def readiness_of(dp: Dispatcher) -> Readiness:
    """The dispatcher's readiness checks (`BotServices.readiness`: database, Redis, model)."""
    readiness: Readiness = dp.workflow_data["readiness"]
    return readiness


async def register_webhook(bot: Bot, dp: Dispatcher, settings: TelegramSettings) -> None:
    if not settings.webhook_url:
        raise BotConfigError(
            "telegram.webhook_url is required in webhook mode: the public https URL Telegram "
            "posts to (set COMPANION_TELEGRAM__WEBHOOK_URL)"
        )
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    url = settings.webhook_url.rstrip("/")
    if not url.endswith(settings.webhook_path):
        url += settings.webhook_path
    await bot.set_webhook(
        url,
        secret_token=secret,
        allowed_updates=dp.resolve_used_update_types(),
        drop_pending_updates=False,
    )
    log.info("webhook registered at %s", url)


async def run_webhook(
    bot: Bot,
    dp: Dispatcher,
    settings: TelegramSettings,
    *,
    register: bool = True,
    configure: Callable[[web.Application], None] | None = None,
) -> None:
    """Serve the webhook until SIGINT/SIGTERM. Several processes may share the port.

    `configure` adds other routes to the same server (the YooKassa notification endpoint)."""
    app = create_webhook_app(bot, dp, settings)
    if configure is not None:
        configure(app)
    runner = webhook_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port, reuse_port=True)
    await site.start()
    log.info(
        "webhook worker listening on %s:%s%s",
        settings.webhook_host,
        settings.webhook_port,
        settings.webhook_path,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        # Registered once the port listens: Telegram starts delivering at once (pending
        # updates first), and a delivery that finds nothing listening waits for its retry.
        if register:
            await register_webhook(bot, dp, settings)
        await stop.wait()
    finally:
        log.info("webhook worker stopping")
        # Stops listening, then runs on_shutdown: replies in flight finish, the session closes.
        await runner.cleanup()
