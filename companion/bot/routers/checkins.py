"""``/checkins``: whether the persona may write first (companion.outreach).

``/checkins`` shows the setting; ``/checkins on`` / ``off`` (or вкл / выкл) changes it;
anything else gets a polite hint and changes nothing.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from companion.bot.deps import Users
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.domain.models import User

CHOICES = {"on": True, "вкл": True, "off": False, "выкл": False}


async def checkins(
    message: Message, command: CommandObject, user: User, i18n: I18n, users: Users
) -> None:
    wanted = (command.args or "").strip().lower()
    if not wanted:
        on = user.settings.checkins
        await message.answer(i18n("checkins-status-on" if on else "checkins-status-off"))
        return
    if wanted not in CHOICES:
        await message.answer(i18n("checkins-usage"))
        return
    on = CHOICES[wanted]
    await users.update(user.id, settings__checkins=on)
    await message.answer(i18n("checkins-turned-on" if on else "checkins-turned-off"))


def build_router() -> Router:
    router = Router(name="checkins")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(checkins, Command("checkins"))
    return router
