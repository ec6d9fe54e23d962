"""``/timezone``: the user's time zone for time-of-day texts (greetings).

``/timezone`` shows the zone in use (stored, or inferred from the language: Europe/Moscow for
Russian, else UTC); ``/timezone Europe/Berlin`` stores an IANA zone; anything else gets a
polite hint and changes nothing.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from companion.bot.deps import Users
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.bot.texts import escape
from companion.domain.models import User
from companion.personas.dayparts import user_timezone, valid_timezone

MAX_ZONE_CHARS = 64


async def set_timezone(
    message: Message, command: CommandObject, user: User, i18n: I18n, users: Users
) -> None:
    wanted = (command.args or "").strip()
    if not wanted:
        current = str(user_timezone(user.settings.timezone, user.language))
        await message.answer(i18n("timezone-current", zone=escape(current)))
        return
    zone = valid_timezone(wanted[:MAX_ZONE_CHARS])
    if zone is None:
        await message.answer(i18n("timezone-invalid"))
        return
    await users.update(user.id, settings__timezone=zone)
    await message.answer(i18n("timezone-set", zone=escape(zone)))


def build_router() -> Router:
    router = Router(name="timezone")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(set_timezone, Command("timezone"))
    return router
