"""``/timezone``: the user's time zone for time-of-day texts (greetings).

``/timezone`` shows the zone in use (stored, or inferred from the language: Europe/Moscow for
Russian, else UTC); ``/timezone Europe/Berlin`` stores an IANA zone; anything else gets a
polite hint and changes nothing.

At onboarding, right after the terms are accepted, the zone is asked once (`ask_timezone`): a
keyboard with common zones for the language, "other" (the /timezone command) and "keep" (the
zone inferred from the language, also what an unanswered question leaves in place).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.bot.bad_updates import quietly
from companion.bot.deps import Users
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.bot.texts import escape
from companion.domain.models import User
from companion.personas.dayparts import user_timezone, valid_timezone

MAX_ZONE_CHARS = 64
OTHER, KEEP = "other", "keep"
# Offered at onboarding, west to east; any other zone is one /timezone away.
COMMON_ZONES: dict[str, tuple[str, ...]] = {
    "ru": (
        "Europe/Kaliningrad",
        "Europe/Moscow",
        "Europe/Samara",
        "Asia/Yekaterinburg",
        "Asia/Novosibirsk",
        "Asia/Vladivostok",
    ),
    "en": (
        "America/Los_Angeles",
        "America/Chicago",
        "America/New_York",
        "Europe/London",
        "Europe/Berlin",
        "Asia/Kolkata",
    ),
}


class TimezoneCb(CallbackData, prefix="tz"):
    zone: str  # an IANA name, OTHER or KEEP


def _zone_label(zone: str, i18n: I18n) -> str:
    offset = datetime.now(UTC).astimezone(ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    utc = f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
    city = zone.rsplit("/", 1)[-1]
    return i18n("timezone-city", city=city.lower(), name=city.replace("_", " "), utc=utc)


def timezone_keyboard(i18n: I18n, language: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for zone in COMMON_ZONES.get(language, COMMON_ZONES["en"]):
        builder.button(text=_zone_label(zone, i18n), callback_data=TimezoneCb(zone=zone))
    builder.button(text=i18n("timezone-button-other"), callback_data=TimezoneCb(zone=OTHER))
    builder.button(text=i18n("timezone-button-keep"), callback_data=TimezoneCb(zone=KEEP))
    builder.adjust(2)
    return builder.as_markup()


async def ask_timezone(bot: Bot, chat_id: int, user: User, i18n: I18n) -> None:
    """The onboarding question; the inferred zone stays until the user picks another."""
    inferred = str(user_timezone(user.settings.timezone, user.language))
    await bot.send_message(
        chat_id,
        i18n("timezone-ask", zone=escape(inferred)),
        reply_markup=timezone_keyboard(i18n, user.language),
    )


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


async def timezone_chosen(
    query: CallbackQuery, callback_data: TimezoneCb, user: User, i18n: I18n, users: Users
) -> None:
    await query.answer()
    choice = callback_data.zone
    zone = None if choice in (OTHER, KEEP) else valid_timezone(choice[:MAX_ZONE_CHARS])
    if zone is not None:
        await users.update(user.id, settings__timezone=zone)
        text = i18n("timezone-set", zone=escape(zone))
    elif choice == KEEP:
        current = str(user_timezone(user.settings.timezone, user.language))
        text = i18n("timezone-kept", zone=escape(current))
    else:  # "other", or button data that names no zone (forged, or an old zone list)
        text = i18n("timezone-other")
    if isinstance(query.message, Message) and query.message.text is not None:
        await quietly(query.message.edit_text(text))  # a second tap: "not modified"
    else:
        await query.bot.send_message(query.from_user.id, text)  # type: ignore[union-attr]


def build_router() -> Router:
    router = Router(name="timezone")
    router.message.filter(Magic(F.chat.type == "private"))
    router.callback_query.filter(Magic(F.message.chat.type == "private"))
    router.message.register(set_timezone, Command("timezone"))
    router.callback_query.register(timezone_chosen, TimezoneCb.filter())
    return router
