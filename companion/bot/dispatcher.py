"""The dispatcher: services by name, middlewares, and every router, included once, here.

    dp = build_dispatcher(app.bot_services(), build_fsm_storage(redis, settings.redis))

Each field of `BotServices` and of `BotRuntime` (the Telegram-side helpers built here) becomes a
workflow-data entry of that name, which aiogram passes to any handler with a parameter of that
name. The middlewares add ``user`` (`User`, possibly not stored yet), ``user_stored``, ``i18n``
(`I18n`) and ``trace_id`` per update.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.fsm.storage.base import BaseStorage

from companion.bot.commands import set_commands
from companion.bot.delivery import UpdateDelivery
from companion.bot.errors import on_error
from companion.bot.library import LibraryView
from companion.bot.localization import I18n
from companion.bot.middlewares.claim import ClaimMiddleware
from companion.bot.middlewares.consent import ConsentMiddleware
from companion.bot.middlewares.throttling import Throttle, ThrottlingMiddleware
from companion.bot.middlewares.tracing import InFlight, TracingMiddleware
from companion.bot.middlewares.users import I18nMiddleware, UserMiddleware
from companion.bot.photos import PhotoSender
from companion.bot.replying import ChatReplier
from companion.bot.routers import (
    admin,
    billing,
    chat,
    checkins,
    data,
    library,
    memory,
    mood,
    news,
    start,
    survey,
    timezone,
    unsupported,
    voice,
    voice_replies,
)
from companion.bot.routers.billing.views import show_paywall
from companion.bot.services import BotServices
from companion.bot.session import TolerantSession
from companion.bot.streaming import StreamingPolicy
from companion.config import TelegramSettings
from companion.i18n import Translator
from companion.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BotRuntime:
    """The Telegram layer's own helpers, one set per dispatcher (field name = data key)."""

    photos: PhotoSender
    library: LibraryView
    streaming_policy: StreamingPolicy
    replier: ChatReplier
    throttle: Throttle
    inflight: InFlight
    delivery: UpdateDelivery

    @classmethod
    def build(cls, services: BotServices) -> BotRuntime:
        settings, redis, prefix = services.tg_settings, services.redis, services.key_prefix
        photos = PhotoSender(redis, prefix=prefix)
        library_view = LibraryView(services.personas, photos)
        policy = StreamingPolicy(
            use_drafts=settings.use_drafts,
            draft_interval_s=settings.draft_interval_s,
            edit_interval_s=settings.edit_interval_s,
        )

        async def paywall(bot: Bot, chat_id: int, i18n: I18n, persona_name: str | None) -> None:
            await show_paywall(bot, chat_id, i18n, services.plans, persona_name=persona_name)

        replier = ChatReplier(
            services.dialogs,
            library_view,
            photos,
            policy,
            events=services.events,
            paywall=paywall,
            metrics=services.metrics,
            voice=services.voice_replier,
        )
        throttle = Throttle(
            redis,
            prefix=prefix,
            limit=settings.throttle_messages,
            window_s=settings.throttle_window_s,
        )
        concurrency = max(1, settings.max_concurrent_updates // 4)
        delivery = UpdateDelivery(
            redis,
            prefix=prefix,
            concurrency=concurrency,
            hold_lease_s=settings.update_hold_lease_s,
        )
        return cls(photos, library_view, policy, replier, throttle, InFlight(), delivery)

    def by_name(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def build_dispatcher(services: BotServices, storage: BaseStorage) -> Dispatcher:
    runtime = BotRuntime.build(services)
    dp = Dispatcher(storage=storage, name="companion", **services.by_name(), **runtime.by_name())

    # Outer middlewares on every update, after aiogram's own (errors, user context, FSM).
    # The claim comes first: a duplicate costs nothing further.
    dp.update.outer_middleware(ClaimMiddleware(runtime.delivery))
    dp.update.outer_middleware(TracingMiddleware(runtime.inflight))
    dp.update.outer_middleware(UserMiddleware(services.users, services.default_language))
    dp.update.outer_middleware(I18nMiddleware(services.translator, services.default_language))
    dp.update.outer_middleware(ThrottlingMiddleware(runtime.throttle))
    consent = ConsentMiddleware()
    dp.message.middleware(consent)
    dp.callback_query.middleware(consent)
    dp.errors.register(on_error)

    dp.include_routers(*build_routers())

    dp.startup.register(_on_startup)
    dp.startup.register(_count_bad_updates_in_polling)
    dp.startup.register(_start_retries)
    dp.shutdown.register(_on_shutdown)
    # After the in-flight updates drained: their deferrals are queued by then.
    dp.shutdown.register(_stop_retries)
    return dp


def build_routers() -> list[Router]:
    """Every screen's router, fresh, in the order updates try them."""
    return [
        memory.build_editing_router(),  # a fact's new wording, awaited after /memory's ✏️
        start.build_router(),
        library.build_router(),
        memory.build_router(),
        data.build_router(),
        billing.build_router(),
        voice.build_router(),
        voice_replies.build_router(),
        timezone.build_router(),
        news.build_router(),
        checkins.build_router(),
        mood.build_router(),
        # Before chat: the survey's optional comment is the next text while it waits for one.
        survey.build_router(),
        # Admins only (others fall through: /admin is then an unknown command); before chat.
        admin.build_router(),
        # Free text goes to the persona; the catch-all for everything else must stay last.
        chat.build_router(),
        unsupported.build_router(),
    ]


async def _on_startup(bot: Bot, translator: Translator, default_language: str) -> None:
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
