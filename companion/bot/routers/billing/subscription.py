"""/subscription: the state of a person's PRO, turning renewal off and on again."""

from __future__ import annotations

from html import escape

from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message

from companion.billing.context import SubscriptionView
from companion.billing.errors import NotCancellableError, StarsRefusedError
from companion.billing.management import SubscriptionManagement
from companion.billing.plans import PlanCatalog
from companion.bot.callbacks import BillingCb
from companion.bot.localization import I18n
from companion.bot.routers.billing.views import plans_keyboard, subscription_keyboard
from companion.bot.texts import date_text
from companion.domain.models import Subscription, SubscriptionStatus, User

NOT_STARTED = (SubscriptionStatus.NONE, SubscriptionStatus.PENDING)


async def subscription(
    message: Message,
    user: User,
    i18n: I18n,
    plans: PlanCatalog,
    subscriptions: SubscriptionManagement,
) -> None:
    view = await subscriptions.view(user.id)
    sub = view.subscription
    if sub is None or (sub.status in NOT_STARTED and not view.has_pro):
        markup = plans_keyboard(i18n, plans)
        await message.answer(i18n("subscription-none"), reply_markup=markup)
        return
    text = _status_text(i18n, view, sub)
    markup = subscription_keyboard(
        i18n,
        plans,
        can_cancel=view.can_cancel,
        can_resume=view.can_resume,
        with_plans=not view.has_pro,
    )
    await message.answer(text, reply_markup=markup)


def _status_text(i18n: I18n, view: SubscriptionView, sub: Subscription) -> str:
    return i18n(
        "subscription-status",
        plan=escape(view.plan.title_for(i18n.language) if view.plan else sub.plan_id),
        state=i18n(f"subscription-state-{sub.status.value.replace('_', '-')}"),
        until=date_text(view.until),
        renewal=i18n("subscription-renew-on" if sub.auto_renew else "subscription-renew-off"),
    )


async def cancel_or_resume(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    subscriptions: SubscriptionManagement,
) -> None:
    cancel = callback_data.action == "cancel"
    try:
        change = subscriptions.cancel if cancel else subscriptions.resume
        sub = await change(user.id)
    except NotCancellableError:
        await query.answer(i18n("subscription-not-cancellable"), show_alert=True)
        return
    except (TelegramAPIError, StarsRefusedError):
        await query.answer(i18n("pro-payment-unavailable"), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        key = "subscription-cancelled" if cancel else "subscription-resumed"
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(i18n(key, until=date_text(sub.current_period_end)))
