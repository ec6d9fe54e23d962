"""`companion bot`: run the Telegram bot, by long polling (development) or as a webhook worker.

    companion bot                              # long polling
    companion bot --webhook                    # aiohttp webhook worker (production)
    companion bot --api-server http://localhost:8081   # a local Bot API server

Mount with ``root.command("bot")(bot.bot)``. Every service comes from the composition root
(`companion.app.build_app`); the handlers receive them by name (`App.bot_services`).
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Annotated

import typer
from aiohttp import web

from companion import event_loop
from companion.app import Overrides, build_app
from companion.billing.service import BillingService
from companion.billing.webhook import setup_billing_routes
from companion.bot.dispatcher import build_dispatcher
from companion.bot.readiness import Readiness, add_health_routes
from companion.bot.runner import BotConfigError, build_fsm_storage, require_token, run_polling
from companion.bot.services import BotServices
from companion.bot.webhook import run_webhook
from companion.cli.errors import fail, settings_or_exit
from companion.config import Settings
from companion.gc_tuning import freeze_startup_heap
from companion.legal.web import setup_legal_routes
from companion.logging_setup import configure_logging
from companion.metrics_server import serving_metrics
from companion.storage.database import DatabaseUnavailableError
from companion.storage.redis import RedisUnavailableError

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


async def _serve(settings: Settings, *, webhook: bool, api_server: str | None) -> None:
    require_token(settings.telegram)  # before connecting to anything
    overrides = Overrides(telegram_api_server=api_server)
    async with (
        build_app(settings, overrides, speech=True, warm_up=True) as app,
        AsyncExitStack() as stack,
    ):
        services = app.bot_services()
        await stack.enter_async_context(
            serving_metrics(app.metrics.registry, settings.metrics_port)
        )
        assert app.telegram is not None  # bot_services() refuses to serve without a token
        dp = build_dispatcher(services, build_fsm_storage(services.redis, settings.redis))
        billing = app.billing.service
        freeze_startup_heap()
        app.billing.scheduler.start()
        if app.outreach is not None:  # check-ins; stopped (bounded) when the app closes
            app.outreach.scheduler.start()
        app.broadcasts.worker.start()  # news broadcasts; finishes its sends when the app closes
        if app.rollup_keeper is not None:  # the owner's reports' daily sets, in the background
            app.rollup_keeper.start()
        if webhook:
            await run_webhook(
                app.telegram,
                dp,
                settings.telegram,
                configure=lambda web_app: setup_billing_routes(
                    web_app, billing.crediting, settings.billing
                ),
            )
            return
        if settings.billing.yookassa_enabled:
            # Polling has no web server of its own; YooKassa still needs one to notify.
            site = await _serve_billing_webhook(settings, billing, app.readiness, services)
            stack.push_async_callback(site.cleanup)
        await run_polling(app.telegram, dp)


async def _serve_billing_webhook(
    settings: Settings, service: BillingService, readiness: Readiness, services: BotServices
) -> web.AppRunner:
    app = web.Application()
    setup_billing_routes(app, service.crediting, settings.billing)
    add_health_routes(app, readiness)
    setup_legal_routes(app, services.legal_pages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(
        runner, settings.telegram.webhook_host, settings.telegram.webhook_port
    ).start()
    log.info("YooKassa notifications on port %s", settings.telegram.webhook_port)
    return runner
