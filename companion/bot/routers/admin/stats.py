"""The Stats section of the owner's console: a report for the last 7, 30 or 90 days, as a
chart (a photo) with its numbers in the caption.

The reports and charts are `companion.analytics`; this module only lays them out. Buttons carry
`AdminStatsCb` (prefix ``adms``): which report, over how many days.
"""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.analytics.charts import render_async
from companion.analytics.reports import REPORTS, Report
from companion.analytics.service import AnalyticsService
from companion.bot.localization import I18n
from companion.bot.routers.admin.callbacks import AdminSection
from companion.bot.routers.admin.menu import back_row, edit_or_send

CONSENT_FREE = {"consent_free": True}
PERIODS = (7, 30, 90)
CAPTION_LIMIT = 1024  # Telegram's limit for a photo caption


class AdminStatsCb(CallbackData, prefix="adms"):
    report: str
    days: int = 7


def reports_keyboard(i18n: I18n, days: int = 7) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for name in REPORTS:
        builder.button(
            text=i18n(f"stats-report-{name}"), callback_data=AdminStatsCb(report=name, days=days)
        )
    builder.adjust(2)
    builder.row(*back_row(i18n))
    return builder.as_markup()


def chart_keyboard(i18n: I18n, report: str, days: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for period in PERIODS:
        mark = "• " if period == days else ""
        builder.button(
            text=mark + i18n("stats-days", days=period),
            callback_data=AdminStatsCb(report=report, days=period),
        )
    builder.button(text=i18n("stats-other-reports"), callback_data=AdminSection(section="stats"))
    builder.adjust(len(PERIODS), 1)
    builder.row(*back_row(i18n))
    return builder.as_markup()


def caption(i18n: I18n, report: Report) -> str:
    """The report's numbers: a title with the period, one line per figure."""
    lines = [f"<b>{html.escape(i18n(f'stats-report-{report.name}'))}</b> · {report.period.label()}"]
    for line in report.summary():
        label = i18n(line.key, subject=line.subject)
        lines.append(f"{html.escape(label)}: <b>{html.escape(line.value)}</b>")
    text = "\n".join(lines)
    return text if len(text) <= CAPTION_LIMIT else text[: CAPTION_LIMIT - 1] + "…"


async def open_stats(query: CallbackQuery, i18n: I18n) -> None:
    await edit_or_send(query, i18n("stats-choose"), reports_keyboard(i18n))


async def show_report(
    query: CallbackQuery,
    callback_data: AdminStatsCb,
    i18n: I18n,
    analytics: AnalyticsService,
    bot: Bot,
) -> None:
    await query.answer()
    if callback_data.report not in REPORTS or callback_data.days not in PERIODS:
        await bot.send_message(query.from_user.id, i18n("stats-unknown"))
        return
    async with ChatActionSender.upload_photo(bot=bot, chat_id=query.from_user.id):
        report = await analytics.report(
            callback_data.report, analytics.last_days(callback_data.days)
        )
        png = await render_async(report)
        await bot.send_photo(
            query.from_user.id,
            BufferedInputFile(png, filename=f"{report.name}-{callback_data.days}d.png"),
            caption=caption(i18n, report),
            reply_markup=chart_keyboard(i18n, report.name, callback_data.days),
        )


def build_router() -> Router:
    router = Router(name="admin-stats")
    router.callback_query.register(
        open_stats, AdminSection.filter(F.section == "stats"), flags=CONSENT_FREE
    )
    router.callback_query.register(show_report, AdminStatsCb.filter(), flags=CONSENT_FREE)
    return router
