"""What the Users section shows: a person's card and the grant and refund screens.

Built from `companion.analytics.user_lookup.UserCard`, which holds no message contents; every
value that comes from a person (names) is HTML-escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.analytics.user_lookup import UserCard
from companion.billing.plans import PlanCatalog
from companion.bot.localization import I18n
from companion.bot.routers.admin.callbacks import AdminSection, AdminUserCb
from companion.bot.texts import date_text, escape
from companion.domain.models import Subscription
from companion.domain.ports import PaymentLine


def moment_text(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%d.%m.%Y %H:%M UTC")


def _yes(value: object) -> str:
    return "✅" if value else "❌"


def card_text(card: UserCard, i18n: I18n) -> str:
    user, activity = card.user, card.activity
    names = " ".join(
        part
        for part in (f"@{user.username}" if user.username else "", user.first_name or "")
        if part
    )
    lines = [
        i18n("admin-user-title", id=str(user.id), name=escape(names)),
        i18n(
            "admin-user-profile",
            lang=user.language,
            persona=user.current_persona_id or "—",
        ),
        i18n(
            "admin-user-activity",
            joined=date_text(user.created_at),
            seen=moment_text(activity.last_seen),
            messages=activity.messages,
        ),
        _plan_line(card, i18n),
        _flags_line(card, i18n),
        "",
        *_payment_lines(card.payments, i18n),
    ]
    return "\n".join(lines)


def _plan_line(card: UserCard, i18n: I18n) -> str:
    sub: Subscription | None = card.subscription
    if sub is None:
        return i18n("admin-user-plan-none")
    return i18n(
        "admin-user-plan-pro" if card.pro_now else "admin-user-plan-free",
        plan=sub.plan_id,
        status=sub.status.value,
        until=date_text(sub.current_period_end),
        renew=_yes(sub.auto_renew),
        provider=sub.provider or "—",
    )


def _flags_line(card: UserCard, i18n: I18n) -> str:
    user = card.user
    settings = user.settings
    return i18n(
        "admin-user-flags",
        consent=_yes(user.has_consented),
        adult=_yes(user.is_adult_confirmed),
        blocked=moment_text(user.blocked_at) if user.blocked_at else _yes(False),
        news=_yes(settings.news),
        checkins=_yes(settings.checkins),
        mood=_yes(settings.mood_tracking),
        voice=_yes(settings.voice_replies),
    )


def _payment_lines(payments: list[PaymentLine], i18n: I18n) -> list[str]:
    if not payments:
        return [i18n("admin-user-no-payments")]
    return [i18n("admin-user-payments")] + [
        i18n(
            "admin-user-payment",
            date=date_text(line.paid_at or line.created_at),
            amount=f"{line.amount} {line.currency}",
            plan=line.plan_id,
            provider=line.provider,
            status=line.status,
            refunded=line.refunded_amount,
            ref=line.reference,
        )
        for line in payments
    ]


def card_keyboard(card: UserCard, i18n: I18n) -> InlineKeyboardMarkup:
    user_id = card.user.id
    builder = InlineKeyboardBuilder()
    builder.button(
        text=i18n("admin-user-grant"), callback_data=AdminUserCb(action="g", user=user_id)
    )
    if card.refundable:
        builder.button(
            text=i18n("admin-user-refund"), callback_data=AdminUserCb(action="r", user=user_id)
        )
    builder.button(
        text=i18n("admin-refresh"), callback_data=AdminUserCb(action="card", user=user_id)
    )
    builder.button(text=i18n("admin-user-another"), callback_data=AdminUserCb(action="find"))
    builder.button(text=i18n("admin-back"), callback_data=AdminSection(section="menu"))
    builder.adjust(2)
    return builder.as_markup()


def prompt_keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=i18n("admin-back"), callback_data=AdminSection(section="menu"))
    return builder.as_markup()


def plans_keyboard(user_id: int, plans: PlanCatalog, i18n: I18n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for plan in plans:
        builder.button(
            text=i18n(
                "admin-grant-plan", title=plan.title_for(i18n.language), days=plan.period_days
            ),
            callback_data=AdminUserCb(action="gp", user=user_id, plan=plan.id),
        )
    builder.button(
        text=i18n("admin-cancel"), callback_data=AdminUserCb(action="card", user=user_id)
    )
    builder.adjust(1)
    return builder.as_markup()


def confirm_keyboard(confirm: AdminUserCb, i18n: I18n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=i18n("admin-confirm"), callback_data=confirm)
    builder.button(
        text=i18n("admin-cancel"), callback_data=AdminUserCb(action="card", user=confirm.user)
    )
    return builder.as_markup()


def refunds_keyboard(card: UserCard, i18n: I18n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for line in card.refundable:
        builder.button(
            text=i18n(
                "admin-refund-payment",
                amount=f"{line.amount} {line.currency}",
                date=date_text(line.paid_at or line.created_at),
                plan=line.plan_id,
            ),
            callback_data=AdminUserCb(action="rp", user=card.user.id, ref=line.reference),
        )
    builder.button(
        text=i18n("admin-cancel"), callback_data=AdminUserCb(action="card", user=card.user.id)
    )
    builder.adjust(1)
    return builder.as_markup()
