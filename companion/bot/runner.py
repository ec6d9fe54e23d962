"""Building the bot and its dispatcher, and running it by long polling or as a webhook server.

The composition root calls, in order::

    bot = build_bot(settings.telegram)                      # token, optional local Bot API server
    storage = build_fsm_storage(redis, settings.redis)      # FSM in Redis, with TTLs
    dp = build_dispatcher(deps, storage)                    # routers, middlewares, error handler
    await run_polling(bot, dp)                              # development
    await run_webhook(bot, dp, settings.telegram)           # production

Nothing here keeps per-user state in the process (FSM, throttling, per-user ordering and caches
are in Redis), so several webhook workers can serve one bot behind a load balancer or on one
port (``SO_REUSEPORT``). On SIGTERM a worker stops taking updates, lets replies in flight
finish (up to ``telegram.shutdown_timeout_s``) and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib
import importlib.util
import logging
import signal
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import LinkPreviewOptions, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.bot import bad_updates
from companion.bot.commands import set_commands
from companion.bot.delivery import CLAIMED, ClaimMiddleware, UpdateDelivery
from companion.bot.deps import BotDeps
from companion.bot.errors import on_error
from companion.bot.library import LibraryView
from companion.bot.localization import I18n
from companion.bot.middlewares.consent import ConsentMiddleware
from companion.bot.middlewares.throttling import Throttle, ThrottlingMiddleware
from companion.bot.middlewares.tracing import InFlight, TracingMiddleware
from companion.bot.middlewares.users import I18nMiddleware, UserMiddleware
from companion.bot.photos import PhotoSender
from companion.bot.readiness import Readiness, add_health_routes
from companion.bot.replying import ChatReplier, Paywall
from companion.bot.response_types import pin_response_types
from companion.bot.routers import chat, data, library, memory, start, unsupported
from companion.bot.session import TolerantSession
from companion.bot.streaming import StreamingPolicy
from companion.bot.user_cache import CachedUserStore
from companion.config import RedisSettings, TelegramSettings
from companion.metrics import Metrics

log = logging.getLogger(__name__)

# Routers other issues own; included when their module exists (each exposes `router`).
_BILLING_ROUTER = "companion.bot.routers.billing"
_VOICE_ROUTER = "companion.bot.routers.voice"


class BotConfigError(ValueError):
    """The bot cannot start with these settings; the message says what to set."""


def build_bot(settings: TelegramSettings, *, api_server: str | None = None) -> Bot:
    """A Bot for the token in settings; `api_server` (or `telegram.api_server`) points it at a
    local Bot API server or an emulator instead of api.telegram.org."""
    if settings.token is None or not settings.token.get_secret_value().strip():
        raise BotConfigError(
            "telegram.token is not set: create a bot with @BotFather and set "
            "COMPANION_TELEGRAM__TOKEN"
        )
    pin_response_types()
    server = api_server or settings.api_server
    # TolerantSession: one update that fails aiogram's schema does not stall long polling.
    session = TolerantSession(api=TelegramAPIServer.from_base(server)) if server else None
    session = session or TolerantSession()
    return Bot(
        settings.token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview=LinkPreviewOptions(is_disabled=True),
        ),
    )


def build_fsm_storage(redis: Redis, settings: RedisSettings) -> RedisStorage:
    return RedisStorage(
        redis,
        key_builder=DefaultKeyBuilder(prefix=f"{settings.key_prefix}:fsm"),
        state_ttl=settings.fsm_state_ttl_s,
        data_ttl=settings.fsm_data_ttl_s,
    )


def _optional_router(module_name: str) -> Router | None:
    """A router from a module other issues own: its `build_router()` (preferred: a fresh router
    per dispatcher), else its module-level `router`."""
    if importlib.util.find_spec(module_name) is None:
        return None
    module = importlib.import_module(module_name)
    factory = getattr(module, "build_router", None)
    if callable(factory):
        built = factory()
        return built if isinstance(built, Router) else None
    router = getattr(module, "router", None)
    if not isinstance(router, Router):
        return None
    return router if router.parent_router is None else _copy_router(router)


def _copy_router(router: Router) -> Router:
    """A module-level router can belong to one dispatcher only; a second dispatcher in the same
    process (tests, benchmarks) gets a copy with the same handlers, filters and middlewares."""
    copy = Router(name=router.name)
    for name, observer in router.observers.items():
        target = copy.observers[name]
        target.handlers.extend(observer.handlers)
        target._handler.filters = list(observer._handler.filters or [])
        for middleware in observer.middleware:
            target.middleware.register(middleware)
        for middleware in observer.outer_middleware:
            target.outer_middleware.register(middleware)
    for sub_router in router.sub_routers:
        copy.include_router(_copy_router(sub_router))
    return copy


def _paywall(deps: BotDeps) -> Paywall | None:
    """The billing router's PRO offer, when billing is wired (``extra["billing"]``)."""
    billing = deps.extra.get("billing")
    if billing is None or importlib.util.find_spec(_BILLING_ROUTER) is None:
        return None
    show = getattr(importlib.import_module(_BILLING_ROUTER), "show_paywall", None)
    if not callable(show):
        return None

    async def paywall(bot: Bot, chat_id: int, i18n: I18n, persona_name: str | None) -> None:
        await show(bot, chat_id, i18n, billing, persona_name=persona_name)

    return paywall


def build_dispatcher(deps: BotDeps, storage: BaseStorage) -> Dispatcher:
    settings = deps.settings
    users = (
        deps.users
        if isinstance(deps.users, CachedUserStore)
        else CachedUserStore(
            deps.users, deps.redis, prefix=deps.key_prefix, ttl_s=settings.user_cache_ttl_s
        )
    )
    photos = PhotoSender(deps.redis, prefix=deps.key_prefix)
    library_view = LibraryView(deps.personas, photos)
    policy = StreamingPolicy(
        use_drafts=settings.use_drafts,
        draft_interval_s=settings.draft_interval_s,
        edit_interval_s=settings.edit_interval_s,
    )
    replier = ChatReplier(
        deps.dialogs, library_view, photos, policy, events=deps.events, paywall=_paywall(deps)
    )
    throttle = Throttle(
        deps.redis,
        prefix=deps.key_prefix,
        limit=settings.throttle_messages,
        window_s=settings.throttle_window_s,
    )
    inflight = InFlight()
    delivery = UpdateDelivery(
        deps.redis, prefix=deps.key_prefix, concurrency=max(1, settings.max_concurrent_updates // 4)
    )
    workflow: dict[str, Any] = {
        **deps.extra,
        "tg_settings": settings,
        "translator": deps.translator,
        "dialogs": deps.dialogs,
        "users": users,
        "user_data": deps.user_data,
        "personas": deps.personas,
        "memory": deps.memory,
        "events": deps.events,
        "before_erasure_hooks": tuple(deps.before_erasure_hooks),
        "erasure_hooks": tuple(deps.erasure_hooks),
        "redis": deps.redis,
        "key_prefix": deps.key_prefix,
        "default_language": deps.default_language,
        "photos": photos,
        "library": library_view,
        "replier": replier,
        "streaming_policy": policy,
        "throttle": throttle,
        "inflight": inflight,
        "delivery": delivery,
    }
    workflow.setdefault("metrics", Metrics())  # the service's own, when the caller passed it
    dp = Dispatcher(storage=storage, name="companion", **workflow)

    # Outer middlewares on every update, after aiogram's own (errors, user context, FSM).
    # The claim comes first: a duplicate costs nothing further.
    dp.update.outer_middleware(ClaimMiddleware(delivery))
    dp.update.outer_middleware(TracingMiddleware(inflight))
    dp.update.outer_middleware(UserMiddleware(users, deps.default_language))
    dp.update.outer_middleware(I18nMiddleware(deps.translator, deps.default_language))
    dp.update.outer_middleware(ThrottlingMiddleware(throttle))
    consent = ConsentMiddleware()
    dp.message.middleware(consent)
    dp.callback_query.middleware(consent)
    dp.errors.register(on_error)

    routers: list[Router] = [
        start.build_router(),
        library.build_router(),
        memory.build_router(),
        data.build_router(),
    ]
    billing = _optional_router(_BILLING_ROUTER)
    if billing is not None:
        routers.append(billing)
    voice = _optional_router(_VOICE_ROUTER)
    if voice is not None:
        routers.append(voice)
    # Free text goes to the persona; the catch-all for everything else must stay last.
    routers.extend([chat.build_router(), unsupported.build_router()])
    dp.include_routers(*routers)

    dp.startup.register(_on_startup)
    dp.startup.register(_count_bad_updates_in_polling)
    dp.startup.register(_start_retries)
    dp.shutdown.register(_on_shutdown)
    # After the in-flight updates drained: their deferrals are queued by then.
    dp.shutdown.register(_stop_retries)
    return dp


async def _on_startup(bot: Bot, translator: Any, default_language: str) -> None:
    try:
        await set_commands(bot, translator, default_language)
    except Exception:  # a menu is nice to have; the bot works without one
        log.exception("could not set the command menu")


async def _count_bad_updates_in_polling(bot: Bot, metrics: Metrics) -> None:
    if isinstance(bot.session, TolerantSession):
        bot.session.metrics = metrics


async def _on_shutdown(inflight: InFlight, tg_settings: TelegramSettings) -> None:
    if inflight.count:
        log.info("shutdown: waiting for %d update(s) in flight", inflight.count)
    await inflight.drain(tg_settings.shutdown_timeout_s)


async def _start_retries(dispatcher: Dispatcher, bot: Bot, delivery: UpdateDelivery) -> None:
    async def feed(update: dict[str, Any], **kwargs: Any) -> None:
        await dispatcher.feed_raw_update(bot, update, **kwargs)

    await delivery.start(feed)


async def _stop_retries(delivery: UpdateDelivery) -> None:
    await delivery.stop()


async def run_polling(bot: Bot, dp: Dispatcher) -> None:
    """Long polling (development). Stops on SIGINT/SIGTERM after replies in flight finish."""
    await bot.delete_webhook(drop_pending_updates=False)
    settings: TelegramSettings = dp.workflow_data["tg_settings"]
    await dp.start_polling(
        bot,
        allowed_updates=dp.resolve_used_update_types(),
        handle_signals=True,
        close_bot_session=True,
        tasks_concurrency_limit=settings.max_concurrent_updates,
    )


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

    async def close(self) -> None:
        """On shutdown: let admitted updates finish (the dispatcher's shutdown already waited
        for those in handlers), then close the bot's HTTP session."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._shutdown_timeout_s)
        await super().close()

    async def handle(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not self.verify_secret(token, self.bot):
            bad_updates.count(self.dispatcher.workflow_data.get("metrics"), bad_updates.BAD_SECRET)
            log.warning("webhook request with a wrong secret token refused")
            return web.Response(body="Unauthorized", status=401)
        await self._slots.acquire()
        try:
            update = await request.json(loads=self.bot.session.json_loads)
        except Exception:
            self._slots.release()
            return web.Response(body="Bad Request", status=400)
        refused = await self._admit(update)
        if refused is not None:
            self._slots.release()
            return refused
        task = asyncio.create_task(self._feed(update))
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
        """Claim the update before answering 200 (see `companion.bot.delivery`): None to handle
        it, else the answer: 200 for a duplicate, 503 when Redis cannot say (Telegram then
        delivers it again later, so it is not lost)."""
        delivery: UpdateDelivery | None = self.dispatcher.workflow_data.get("delivery")
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if delivery is None or not isinstance(update_id, int):
            return None
        try:
            fresh = await delivery.claim(update_id)
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
        try:
            await self.dispatcher.feed_raw_update(self.bot, update, **{CLAIMED: True})
        except ValidationError as exc:
            if exc.title != Update.__name__:
                raise
            # Already answered 200, so Telegram will not send it again and again; the log
            # names the fields, never their values (they may be what someone wrote).
            bad_updates.invalid_update(update, exc, self.dispatcher.workflow_data.get("metrics"))
        finally:
            self._slots.release()


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
    return app


def readiness_of(dp: Dispatcher) -> Readiness:
    """The dispatcher's readiness checks (``extra["readiness"]`` from the composition root),
    else Redis alone."""
    readiness = dp.workflow_data.get("readiness")
    if isinstance(readiness, Readiness):
        return readiness
    redis: Redis = dp.workflow_data["redis"]
    return Readiness({"redis": redis.ping})


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
    if register:
        await register_webhook(bot, dp, settings)
    runner = web.AppRunner(app, access_log=None)
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
        await stop.wait()
    finally:
        log.info("webhook worker stopping")
        # Stops listening, then runs on_shutdown: replies in flight finish, the session closes.
        await runner.cleanup()
