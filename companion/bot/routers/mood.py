"""``/mood``: the person's mood over the last weeks as a chart with a few kind words;
``/mood off`` and ``/mood on`` switch the reading of messages; ``/mood clear`` deletes what was
read. Off deletes nothing (the chart stays until /mood clear or /forget)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.chat_action import ChatActionSender

from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.domain.models import User
from companion.mood.service import MoodService, MoodView

_SWITCHES = {"off": False, "on": True}


def summary_text(i18n: I18n, view: MoodView, tracking: bool) -> str:
    s = view.summary
    parts = [
        i18n(f"mood-summary-{s.tone}", days=s.days_with_messages, good=s.good_days, low=s.low_days)
    ]
    if s.days_with_messages >= 4:
        parts.append(i18n(f"mood-trend-{s.trend}"))
    parts.append(i18n("mood-footer") if tracking else i18n("mood-tracking-is-off"))
    return "\n\n".join(parts)


async def show_mood(
    message: Message, command: CommandObject, bot: Bot, user: User, i18n: I18n, mood: MoodService
) -> None:
    arg = (command.args or "").strip().lower()
    if arg in _SWITCHES:
        await mood.set_tracking(user, _SWITCHES[arg])
        await message.answer(i18n(f"mood-tracking-{arg}"))
        return
    if arg == "clear":
        await mood.clear(user)
        await message.answer(i18n("mood-cleared"))
        return
    if arg:
        await message.answer(i18n("mood-usage"))
        return
    async with ChatActionSender.upload_photo(bot=bot, chat_id=message.chat.id):
        view = await mood.view(user, i18n.language)
    text = summary_text(i18n, view, user.settings.mood_tracking)
    if view.chart_png is None:
        await message.answer(text)
        return
    await message.answer_photo(BufferedInputFile(view.chart_png, "mood.png"), caption=text)


def build_router() -> Router:
    router = Router(name="mood")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(show_mood, Command("mood"))
    return router
