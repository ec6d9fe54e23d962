"""`companion bot`: run the Telegram bot, by long polling (development) or as a webhook worker.

    companion bot                              # long polling
    companion bot --webhook                    # aiohttp webhook worker (production)
    companion bot --api-server http://localhost:8081   # a local Bot API server

Mount with ``root.command("bot")(bot.bot)``. The bot's collaborators come from the composition
root (`companion.app.build_container`); `bot_deps` maps the container onto `BotDeps`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from companion.app import Container, build_container
from companion.bot.deps import BotDeps, ErasureHook
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
from companion.logging_setup import configure_logging
from companion.storage.database import DatabaseUnavailableError
from companion.storage.redis import RedisUnavailableError

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
        asyncio.run(_serve(settings, webhook=webhook, api_server=api_server))
    except (BotConfigError, DatabaseUnavailableError, RedisUnavailableError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


def bot_deps(container: Container) -> BotDeps:
    """What the bot needs from the container; other front-end parts add theirs to `extra`."""
    if container.redis is None:
        raise BotConfigError("the bot needs Redis (FSM, throttling, per-user ordering)")
    settings = container.settings
    hooks: list[ErasureHook] = []
    if container.memory is not None:
        hooks.append(container.memory.forget_user)
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
        erasure_hooks=hooks,
    )


async def _serve(settings: Settings, *, webhook: bool, api_server: str | None) -> None:
    telegram_bot = build_bot(settings.telegram, api_server=api_server)
    try:
        async with build_container(settings) as container:
            deps = bot_deps(container)
            dp = build_dispatcher(deps, build_fsm_storage(deps.redis, settings.redis))
            if webhook:
                await run_webhook(telegram_bot, dp, settings.telegram)
            else:
                await run_polling(telegram_bot, dp)
    finally:
        await telegram_bot.session.close()
