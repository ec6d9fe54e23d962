"""Admin section "mood": anonymous mood trends per persona and module, the satisfaction
estimate, and the survey (mean against the target, distribution, by persona, by week)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.chat_action import ChatActionSender

from companion.bot.localization import I18n
from companion.bot.routers.admin.callbacks import AdminSection
from companion.bot.routers.admin.menu import back_row, edit_or_send
from companion.mood.admin_view import mood_lines, survey_lines
from companion.mood.reports import MoodReports

PERIOD_DAYS = 28
# As the panel's own screens: an admin who never accepted the terms still uses it.
CONSENT_FREE = {"consent_free": True}
# Telegram's limit is 4096: a longer report is cut at a line, the survey (first) kept whole.
MAX_CHARS = 3900


async def show_mood_section(
    query: CallbackQuery, bot: Bot, i18n: I18n, mood_reports: MoodReports
) -> None:
    # Reading a period's readings takes a while on a big bot: "typing…" meanwhile.
    async with ChatActionSender.typing(bot=bot, chat_id=query.from_user.id):
        survey = await mood_reports.survey(days=180)
        groups = await mood_reports.mood(days=PERIOD_DAYS)
    lines = [i18n("admin-mood-title", days=PERIOD_DAYS), ""]
    lines += [*survey_lines(i18n, survey), ""]
    lines += mood_lines(i18n, groups, min_users=mood_reports.min_group_users)
    text = "\n".join(lines)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit("\n", 1)[0] + "\n…"
    await edit_or_send(query, text, InlineKeyboardMarkup(inline_keyboard=[back_row(i18n)]))


def build_router() -> Router:
    router = Router(name="admin-mood")
    router.callback_query.register(
        show_mood_section, AdminSection.filter(F.section == "mood"), flags=CONSENT_FREE
    )
    return router
