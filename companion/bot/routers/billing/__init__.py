"""PRO in Telegram: /pro, paying by YooKassa link or Stars, /subscription, admin commands.

One module per concern: `purchase` (/pro, plan, offer, method, receipt contact), `stars`
(pre-checkout, payments, refunds), `subscription` (/subscription, cancel, resume), `admin`
(/refund, /grant); keyboards and the paywall in `views`. Handlers receive ``billing``
(`BillingService`) and ``stars_billing`` (`StarsBilling`; with Stars switched off it is still
there for existing subscribers' renewals, with `selling` false) by name: see
`companion.bot.services.BotServices`.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter

from companion.bot.billing_adapters import AiogramStarsApi, BotNotifier
from companion.bot.callbacks import BillingCb
from companion.bot.filters import Magic
from companion.bot.routers.billing import admin, purchase, stars, subscription
from companion.bot.routers.billing.views import plans_keyboard, show_paywall
from companion.bot.states import BillingStates

__all__ = ["AiogramStarsApi", "BotNotifier", "build_router", "plans_keyboard", "show_paywall"]

PRIVATE = Magic(F.chat.type == "private")
# Payments pass the consent gate: a Stars renewal comes after /forget too, and must be
# recorded (and refunded), not answered with the terms.
CONSENT_FREE = {"consent_free": True}


def build_router() -> Router:
    """A fresh router per dispatcher (`companion.bot.dispatcher.build_dispatcher` calls this)."""
    router = Router(name="billing")
    router.message.register(purchase.pro, Command("pro"), PRIVATE)
    on_button = router.callback_query.register
    on_button(purchase.plan_chosen, BillingCb.filter(F.action == "plan"))
    on_button(purchase.offer_accepted, BillingCb.filter(F.action == "offer"))
    on_button(purchase.card_chosen, BillingCb.filter(F.action == "card"))
    on_button(purchase.stars_chosen, BillingCb.filter(F.action == "stars"))
    router.pre_checkout_query.register(stars.pre_checkout)
    router.message.register(
        stars.successful_payment, Magic(F.successful_payment), flags=CONSENT_FREE
    )
    router.message.register(stars.refunded_payment, Magic(F.refunded_payment), flags=CONSENT_FREE)
    router.message.register(subscription.subscription, Command("subscription"), PRIVATE)
    on_button(subscription.cancel_or_resume, BillingCb.filter(F.action.in_({"cancel", "resume"})))
    router.message.register(admin.admin_refund, Command("refund"))
    router.message.register(admin.admin_grant, Command("grant"))
    # After the commands, so /pro or /subscription still work while a contact is awaited.
    router.message.register(
        purchase.receipt_contact, StateFilter(BillingStates.receipt_contact), Magic(F.text)
    )
    return router
