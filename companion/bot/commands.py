"""The command menu (setMyCommands), in each language and as the default."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeDefault

from companion.i18n import Translator

COMMANDS = (
    "start",
    "persona",
    "reset",
    "memory",
    "export",
    "forget",
    "lang",
    "timezone",
    "checkins",
    "news",
    "mood",
    "pro",
    "subscription",
    "echo",
    "voice",
    "help",
)


def commands_for(translator: Translator, language: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=translator.get(language, f"cmd-{name}"))
        for name in COMMANDS
    ]


async def set_commands(bot: Bot, translator: Translator, default_language: str) -> None:
    """Menus for ru and en users, and the default for everyone else."""
    for language in ("ru", "en"):
        await bot.set_my_commands(
            commands_for(translator, language),
            scope=BotCommandScopeDefault(),
            language_code=language,
        )
    await bot.set_my_commands(
        commands_for(translator, default_language), scope=BotCommandScopeDefault()
    )
