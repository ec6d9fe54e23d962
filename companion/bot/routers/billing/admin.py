"""Admin commands (ids in ``telegram.admin_ids``): /refund REFERENCE, /grant USER PLAN DAYS.

The owner's console (/admin, Users section: `companion.bot.routers.admin.users`) does the same
with buttons and a confirmation step; both report through `refund_report` and `grant_report`.
The commands stay for custom periods and for scripts and habits that use them.
"""

from __future__ import annotations

import logging
from html import escape

from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.types import Message

from companion.billing.admin import AdminService
from companion.billing.errors import NothingToRefundError, PaymentUnavailableError
from companion.billing.plans import UnknownPlanError
from companion.bot.localization import I18n
from companion.bot.texts import date_text
from companion.config import TelegramSettings

log = logging.getLogger(__name__)


def _admin_id(message: Message, settings: TelegramSettings) -> int | None:
    user = message.from_user
    return user.id if user is not None and user.id in settings.admin_ids else None


async def admin_refund(
    message: Message,
    command: CommandObject,
    i18n: I18n,
    tg_settings: TelegramSettings,
    billing_admin: AdminService,
) -> None:
    admin = _admin_id(message, tg_settings)
    reference = (command.args or "").strip()
    if admin is None:
        await message.answer(i18n("admin-only"))
    elif not reference or " " in reference:
        await message.answer(i18n("admin-refund-usage"))
    else:
        await message.answer(await refund_report(billing_admin, i18n, reference, admin))


async def refund_report(billing: AdminService, i18n: I18n, reference: str, admin: int) -> str:
    """Refund what is left of the payment `reference` names; the outcome as a text."""
    try:
        outcome = await billing.refund(reference)
    except NothingToRefundError:
        return i18n("admin-refund-nothing", reference=escape(reference))
    except (PaymentUnavailableError, TelegramAPIError):
        return i18n("pro-payment-unavailable")
    log.info("admin %s refunded %s: %s", admin, reference, outcome.value)
    return i18n("admin-refund-done", reference=escape(reference), outcome=outcome.value)


async def admin_grant(
    message: Message,
    command: CommandObject,
    i18n: I18n,
    tg_settings: TelegramSettings,
    billing_admin: AdminService,
) -> None:
    admin = _admin_id(message, tg_settings)
    parts = (command.args or "").split()
    if admin is None:
        await message.answer(i18n("admin-only"))
    elif len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
        await message.answer(i18n("admin-grant-usage"))
    else:
        user_id, plan_id, days = int(parts[0]), parts[1], int(parts[2])
        await message.answer(await grant_report(billing_admin, i18n, admin, user_id, plan_id, days))


async def grant_report(
    billing: AdminService,
    i18n: I18n,
    admin: int,
    user_id: int,
    plan_id: str,
    days: int,
    *,
    request_id: str | None = None,
) -> str:
    """Give `user_id` PRO on `plan_id` for `days` (once per `request_id`); the outcome as a text."""
    try:
        sub = await billing.grant(user_id, plan_id, days, by=admin, request_id=request_id)
    except UnknownPlanError:
        return i18n("pro-unknown-plan")
    except ValueError:
        return i18n("admin-grant-usage")
    log.info("admin %s granted %s %s days to %s", admin, plan_id, days, user_id)
    return i18n("admin-grant-done", user=str(user_id), until=date_text(sub.current_period_end))
