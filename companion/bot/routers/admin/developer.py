"""The developer view: health of MongoDB, Redis, the model and speech (with latencies), queue
depths, error counts by kind for the last hour and day, version and uptime; and the persona
library reloaded on demand with its validation report.

The service side is `companion.analytics.health.HealthReport`; the update retry queue belongs
to the Telegram layer (`companion.bot.delivery.UpdateDelivery`), so it is read here and handed
to the snapshot.
"""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.analytics.health import HealthReport, HealthSnapshot, PersonaReloadReport
from companion.bot.delivery import UpdateDelivery
from companion.bot.localization import I18n
from companion.bot.routers.admin.callbacks import AdminDevCb, AdminSection
from companion.bot.routers.admin.menu import CONSENT_FREE, edit_or_send
from companion.bot.texts import escape, shorten

# 15 lines of at most 200 characters: the report always fits one message.
MAX_ISSUES_SHOWN = 15
MAX_ISSUE_CHARS = 200


def _keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=i18n("admin-refresh"), callback_data=AdminDevCb(action="refresh"))
    builder.button(text=i18n("admin-dev-reload"), callback_data=AdminDevCb(action="reload"))
    builder.button(text=i18n("admin-back"), callback_data=AdminSection(section="menu"))
    builder.adjust(2)
    return builder.as_markup()


def _uptime(seconds: float, i18n: I18n) -> str:
    minutes = int(seconds // 60)
    return i18n(
        "admin-dev-uptime", days=minutes // 1440, hours=minutes // 60 % 24, minutes=minutes % 60
    )


def snapshot_text(snap: HealthSnapshot, i18n: I18n) -> str:
    lines = [
        i18n("admin-dev-title", version=escape(snap.version), uptime=_uptime(snap.uptime_s, i18n)),
        "",
        i18n("admin-dev-health"),
    ]
    for check in snap.checks:
        note = f" · {escape(check.note)}" if check.note else ""
        mark = "✅" if check.up else "❌"
        lines.append(f"{mark} {check.name} · {check.latency_ms:.0f} ms{note}")
    lines += ["", i18n("admin-dev-queues")]
    lines += [
        f"• {i18n(f'admin-queue-{name}')}: {'?' if depth is None else depth}"
        for name, depth in snap.queues.items()
    ]
    lines += [
        "",
        i18n(
            "admin-dev-errors",
            hour=sum(snap.errors_hour.values()),
            day=sum(snap.errors_day.values()),
        ),
    ]
    for kind, day in snap.errors_day.items():
        lines.append(f"• <code>{escape(kind)}</code>: {snap.errors_hour.get(kind, 0)} / {day}")
    lines += ["", i18n("admin-dev-personas", count=snap.personas, issues=snap.persona_issues)]
    return "\n".join(lines)


def reload_text(report: PersonaReloadReport, i18n: I18n) -> str:
    lines = [i18n("admin-dev-reloaded", count=report.personas, problems=len(report.issues))]
    if report.changed:
        lines.append(i18n("admin-dev-changed", ids=escape(", ".join(report.changed))))
    if report.removed:
        lines.append(i18n("admin-dev-removed", ids=escape(", ".join(report.removed))))
    shown = [shorten(issue, MAX_ISSUE_CHARS) for issue in report.issues[:MAX_ISSUES_SHOWN]]
    if shown:
        lines.append("<pre>" + escape("\n".join(shown)) + "</pre>")
    if len(report.issues) > len(shown):
        lines.append(i18n("admin-dev-more-issues", count=len(report.issues) - len(shown)))
    return "\n".join(lines)


async def _screen(health: HealthReport, delivery: UpdateDelivery, i18n: I18n) -> str:
    queued: int | None = None
    held: int | None = None
    with contextlib.suppress(Exception):  # Redis down: the health lines say so
        queued, held = await delivery.queued()
    snap = await health.snapshot(
        {
            "update_retries": queued,
            "update_retries_here": delivery.pending_here,
            "updates_in_hand": held,
        }
    )
    return snapshot_text(snap, i18n)


async def open_developer(
    query: CallbackQuery, i18n: I18n, health: HealthReport, delivery: UpdateDelivery
) -> None:
    await edit_or_send(query, await _screen(health, delivery, i18n), _keyboard(i18n))


async def developer_command(
    message: Message, i18n: I18n, health: HealthReport, delivery: UpdateDelivery
) -> None:
    """``/admin dev``: the same screen as a new message (a quick look from the command line)."""
    await message.answer(await _screen(health, delivery, i18n), reply_markup=_keyboard(i18n))


async def reload_personas(query: CallbackQuery, i18n: I18n, health: HealthReport) -> None:
    report = health.reload_personas()
    await edit_or_send(query, reload_text(report, i18n), _keyboard(i18n))


def build_router() -> Router:
    router = Router(name="admin-developer")
    router.message.register(
        developer_command,
        Command("admin", magic=F.args.regexp(r"(?i)^dev(eloper)?\s*$")),
        flags=CONSENT_FREE,
    )
    on_button = router.callback_query.register
    on_button(open_developer, AdminSection.filter(F.section == "dev"), flags=CONSENT_FREE)
    on_button(open_developer, AdminDevCb.filter(F.action == "refresh"), flags=CONSENT_FREE)
    on_button(reload_personas, AdminDevCb.filter(F.action == "reload"), flags=CONSENT_FREE)
    return router
