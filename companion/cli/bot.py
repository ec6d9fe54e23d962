"""`companion bot`: run the Telegram bot, by long polling (development) or as a webhook worker.

    companion bot                              # long polling
    companion bot --webhook                    # aiohttp webhook worker (production)
    companion bot --api-server http://localhost:8081   # a local Bot API server

Mount with ``root.command("bot")(bot.bot)``. The bot's collaborators come from the composition
root (`companion.app.build_container`); `bot_deps` maps the container onto `BotDeps`.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Annotated

import typer
from aiogram import Bot
from aiohttp import web

from companion import event_loop
from companion.app import Container, build_container
from companion.billing.factory import BillingComponents, build_billing
from companion.billing.metrics import BillingMetrics
from companion.billing.service import BillingService
from companion.billing.webhook import setup_billing_routes
from companion.bot.alerts import AdminAlerts
from companion.bot.deps import BotDeps, ErasureHook
from companion.bot.readiness import Readiness, add_health_routes, service_checks
from companion.bot.routers.billing import AiogramStarsApi, BotNotifier
from companion.bot.runner import (
    BotConfigError,
    build_bot,
    build_dispatcher,
    build_fsm_storage,
    run_polling,
    run_webhook,
)
from companion.cli.errors import fail, settings_or_exit
from companion.config import Settings
from companion.gc_tuning import freeze_startup_heap
from companion.logging_setup import configure_logging
from companion.privacy.wiring import build_erasure
from companion.storage.database import DatabaseUnavailableError
from companion.storage.redis import RedisUnavailableError

if TYPE_CHECKING:
    from companion.speech.pool import TranscriptionPool

log = logging.getLogger(__name__)

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def bot(
    webhook: Annotated[
        bool,
        typer.Option("--webhook", help="Serve a webhook (telegram.webhook_*) instead of polling"),
    ] = False,
    api_server: Annotated[
        str | None,
        typer.Option(
            "--api-server", help="Bot API server URL (default: telegram.api_server or Telegram's)"
        ),
    ] = None,
) -> None:
    """Run the Telegram bot until Ctrl+C / SIGTERM (replies in flight are finished first)."""
    settings = settings_or_exit()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    try:
        event_loop.run(
            _serve(settings, webhook=webhook, api_server=api_server), choice=settings.event_loop
        )
    except (BotConfigError, DatabaseUnavailableError, RedisUnavailableError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


def bot_deps(container: Container, extra: dict[str, object] | None = None) -> BotDeps:
    """What the bot needs from the container; other front-end parts add theirs to `extra`.

    With billing in `extra` (``extra["billing"]``), /forget stops the user's subscription
    renewals before erasing anything.
    """
    if container.redis is None:
        raise BotConfigError("the bot needs Redis (FSM, throttling, per-user ordering)")
    settings = container.settings
    extra = dict(extra or {})
    extra.setdefault("metrics", container.metrics)  # companion_bad_updates_total and others
    before: list[ErasureHook] = []
    billing = extra.get("billing")
    if isinstance(billing, BillingService):
        before.append(billing.stop_renewals)
    hooks: list[ErasureHook] = []
    if container.memory is not None:
        hooks.append(container.memory.forget_user)
    # /forget runs the one erasure use case that `companion db erase-user` runs too.
    extra.setdefault(
        "erasure",
        build_erasure(container, billing if isinstance(billing, BillingService) else None),
    )
    return BotDeps(
        settings=settings.telegram,
        translator=container.translator,
        dialogs=container.dialog,
        users=container.users,
        user_data=container.user_data,
        personas=container.personas,
        redis=container.redis,
        key_prefix=settings.redis.key_prefix,
        default_language=settings.default_language,
        memory=container.memory,
        events=container.events,
        before_erasure_hooks=before,
        erasure_hooks=hooks,
        extra=extra,
    )


async def _serve(settings: Settings, *, webhook: bool, api_server: str | None) -> None:
    telegram_bot = build_bot(settings.telegram, api_server=api_server)
    try:
        async with build_container(settings) as container, AsyncExitStack() as stack:
            extra: dict[str, object] = {}
            # GET /readyz: database, Redis and the model, each pinged with a short timeout.
            readiness = Readiness(
                service_checks(container.database, container.redis, container.llm)
            )
            extra["readiness"] = readiness
            billing = wire_billing(settings, container, telegram_bot)
            stack.push_async_callback(billing.aclose)
            extra["billing"] = billing.service
            if billing.stars is not None:
                extra["stars_billing"] = billing.stars
            pool = await _start_speech(settings, container)
            if pool is not None:
                stack.push_async_callback(pool.close)
                extra["speech_pool"] = pool

            deps = bot_deps(container, extra)
            dp = build_dispatcher(deps, build_fsm_storage(deps.redis, settings.redis))
            freeze_startup_heap()
            billing.scheduler.start()
            if webhook:
                await run_webhook(
                    telegram_bot,
                    dp,
                    settings.telegram,
                    configure=lambda app: setup_billing_routes(app, billing.service),
                )
            else:
                if settings.billing.yookassa_enabled:
                    # Polling has no web server of its own; YooKassa still needs one to notify.
                    site = await _serve_billing_webhook(settings, billing.service, readiness)
                    stack.push_async_callback(site.cleanup)
                await run_polling(telegram_bot, dp)
    finally:
        await telegram_bot.session.close()


def wire_billing(settings: Settings, container: Container, telegram_bot: Bot) -> BillingComponents:
    """Billing over the container's stores, with the bot for Stars and user notifications."""
    billing = build_billing(
        settings,
        container.database.db,
        users=container.users,
        events=container.events,
        entitlements=container.entitlements,
        plans=container.plans,
        cipher=container.cipher,
        metrics=BillingMetrics(container.metrics.registry),
    )
    billing.attach_telegram(
        AiogramStarsApi(telegram_bot),
        BotNotifier(
            telegram_bot,
            container.translator,
            container.users,
            container.plans,
            settings.default_language,
        ),
        payload_secret=settings.telegram.token,
    )
    if settings.telegram.admin_ids:
        # Money that needs a human (a rejected payment, a refund YooKassa refused).
        billing.service.alerts = AdminAlerts(telegram_bot, settings.telegram.admin_ids)
    return billing


async def _start_speech(settings: Settings, container: Container) -> TranscriptionPool | None:
    """The voice pool, or None when the voice extra is not installed (voice notes then get
    a polite "please type" answer)."""
    try:
        from companion.speech.metrics import PrometheusSpeechMetrics
        from companion.speech.pool import TranscriptionPool
        from companion.speech.transcriber import Transcriber
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        log.warning("voice notes are off: %s", exc)
        return None
    pool = TranscriptionPool(
        Transcriber(settings.speech),
        workers=settings.speech.workers,
        queue_limit=settings.speech.queue_limit,
        metrics=PrometheusSpeechMetrics(container.metrics.registry),
    )
    await pool.start()
    return pool


async def _serve_billing_webhook(
    settings: Settings, service: BillingService, readiness: Readiness
) -> web.AppRunner:
    app = web.Application()
    setup_billing_routes(app, service)
    add_health_routes(app, readiness)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(
        runner, settings.telegram.webhook_host, settings.telegram.webhook_port
    ).start()
    log.info("YooKassa notifications on port %s", settings.telegram.webhook_port)
    return runner
