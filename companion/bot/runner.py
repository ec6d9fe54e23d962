"""The bot itself and long polling.

The bot command (`companion.cli.bot`) runs, in order::

    async with build_app(settings, speech=True) as app:         # companion.app: every service
        dp = build_dispatcher(app.bot_services(), build_fsm_storage(app.redis, settings.redis))
        await run_polling(app.telegram, dp)                         # development, or
        await run_webhook(app.telegram, dp, settings.telegram)     # companion.bot.webhook

Nothing here keeps per-user state in the process (FSM, throttling, per-user ordering and caches
are in Redis), so several webhook workers can serve one bot behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import LinkPreviewOptions
from redis.asyncio import Redis

from companion.bot.response_types import pin_response_types
from companion.bot.session import TolerantSession
from companion.config import RedisSettings, TelegramSettings
from companion.shutdown import finish_or_abandon

log = logging.getLogger(__name__)

# What polling's stop may take beyond replies in flight: the update retries' stop (10 s) and
# closing the session.
STOP_MARGIN_S = 15.0


class BotConfigError(ValueError):
    """The bot cannot start with these settings; the message says what to set."""


def require_token(settings: TelegramSettings) -> str:
    if settings.token is None or not settings.token.get_secret_value().strip():
        raise BotConfigError(
            "telegram.token is not set: create a bot with @BotFather and set "
            "COMPANION_TELEGRAM__TOKEN"
        )
    return settings.token.get_secret_value()


def build_bot(settings: TelegramSettings, *, api_server: str | None = None) -> Bot:
    """A Bot for the token in settings; `api_server` (or `telegram.api_server`) points it at a
    local Bot API server or an emulator instead of api.telegram.org."""
    token = require_token(settings)
    pin_response_types()
    server = api_server or settings.api_server
    # TolerantSession: one update that fails aiogram's schema does not stall long polling.
    session = TolerantSession(api=TelegramAPIServer.from_base(server)) if server else None
    session = session or TolerantSession()
    return Bot(
        token,
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


async def run_polling(bot: Bot, dp: Dispatcher) -> None:
    """Long polling (development). Stops on SIGINT/SIGTERM, or when the task running it is
    cancelled, after replies in flight finish."""
    await bot.delete_webhook(drop_pending_updates=False)
    settings: TelegramSettings = dp.workflow_data["tg_settings"]
    polling = asyncio.create_task(
        dp.start_polling(
            bot,
            allowed_updates=dp.resolve_used_update_types(),
            handle_signals=True,
            close_bot_session=True,
            tasks_concurrency_limit=settings.max_concurrent_updates,
        )
    )
    try:
        await asyncio.shield(polling)
    except asyncio.CancelledError:
        # aiogram's start_polling, when cancelled, leaves its getUpdates loop running (it
        # cancels that loop only when it stops by itself): stop it that way and wait.
        with contextlib.suppress(RuntimeError):  # already stopped
            await dp.stop_polling()
        # Its shutdown waits up to shutdown_timeout_s for replies, then stops the retries.
        await finish_or_abandon(
            [polling], settings.shutdown_timeout_s + STOP_MARGIN_S, what="polling loop"
        )
        if polling.done() and not polling.cancelled() and polling.exception() is not None:
            log.error("polling stopped with an error", exc_info=polling.exception())
        raise
