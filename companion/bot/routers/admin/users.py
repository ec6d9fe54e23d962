"""The Users section: find a person by id or @username, see their card, grant PRO or refund
a payment, each after a confirmation step.

    /admin → 👤 Users → "42" or "@anna"          (or straight away: /admin user @anna)

The card (`user_card`) comes from `companion.analytics.user_lookup.UserLookup` and never holds
message contents. Grants and refunds go through billing's `AdminService`, as /grant and /refund
do (`companion.bot.routers.billing.admin`); a grant's confirm button carries a request id, so a
double tap grants once, and a refund of a payment already refunded changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from companion.analytics.user_lookup import InvalidQueryError, UserLookup, looks_like_query
from companion.billing.admin import AdminService
from companion.billing.plans import PlanCatalog
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.bot.routers.admin import user_card as view
from companion.bot.routers.admin.callbacks import AdminSection, AdminUserCb
from companion.bot.routers.admin.menu import CONSENT_FREE, edit_or_send
from companion.bot.routers.admin.states import AdminStates
from companion.bot.routers.billing.admin import grant_report, refund_report
from companion.bot.texts import escape


async def _card_screen(
    lookup: UserLookup, i18n: I18n, user_id: int, header: str = ""
) -> tuple[str, InlineKeyboardMarkup]:
    card = await lookup.card_of(user_id)
    if card is None:
        return i18n("admin-users-not-found", query=str(user_id)), view.prompt_keyboard(i18n)
    text = view.card_text(card, i18n)
    return (f"{header}\n\n{text}" if header else text), view.card_keyboard(card, i18n)


async def _find(
    lookup: UserLookup, i18n: I18n, query: str
) -> tuple[bool, str, InlineKeyboardMarkup]:
    """(found, text, keyboard) for what the admin typed."""
    try:
        card = await lookup.find(query)
    except InvalidQueryError:
        return False, i18n("admin-users-invalid"), view.prompt_keyboard(i18n)
    if card is None:
        return (
            False,
            i18n("admin-users-not-found", query=escape(query.strip()[:64])),
            view.prompt_keyboard(i18n),
        )
    return True, view.card_text(card, i18n), view.card_keyboard(card, i18n)


async def ask_for_user(query: CallbackQuery, i18n: I18n, state: FSMContext) -> None:
    await state.set_state(AdminStates.user_query)
    await edit_or_send(query, i18n("admin-users-prompt"), view.prompt_keyboard(i18n))


async def user_typed(
    message: Message, i18n: I18n, state: FSMContext, user_lookup: UserLookup
) -> None:
    if not looks_like_query(message.text or ""):
        # Ordinary chat: the admin moved on. Stop waiting and let the persona have it.
        await state.clear()
        raise SkipHandler
    found, text, markup = await _find(user_lookup, i18n, message.text or "")
    if found:  # a miss keeps waiting, so the admin can just type again
        await state.clear()
    await message.answer(text, reply_markup=markup)


async def user_command(
    message: Message, command: CommandObject, i18n: I18n, user_lookup: UserLookup
) -> None:
    query = (command.args or "").split(maxsplit=1)[1:]
    _, text, markup = await _find(user_lookup, i18n, query[0] if query else "")
    await message.answer(text, reply_markup=markup)


async def show_card(
    query: CallbackQuery, callback_data: AdminUserCb, i18n: I18n, user_lookup: UserLookup
) -> None:
    await edit_or_send(query, *await _card_screen(user_lookup, i18n, callback_data.user))


async def choose_plan(
    query: CallbackQuery, callback_data: AdminUserCb, i18n: I18n, plans: PlanCatalog
) -> None:
    user_id = callback_data.user
    text = i18n("admin-grant-choose", user=str(user_id))
    await edit_or_send(query, text, view.plans_keyboard(user_id, plans, i18n))


async def confirm_grant(
    query: CallbackQuery, callback_data: AdminUserCb, i18n: I18n, plans: PlanCatalog
) -> None:
    plan = plans.find(callback_data.plan)
    if plan is None:
        await query.answer(i18n("pro-unknown-plan"), show_alert=True)
        return
    confirm = AdminUserCb(
        action="gk", user=callback_data.user, plan=plan.id, ref=uuid.uuid4().hex[:16]
    )
    text = i18n(
        "admin-grant-confirm",
        user=str(callback_data.user),
        title=plan.title_for(i18n.language),
        days=plan.period_days,
    )
    await edit_or_send(query, text, view.confirm_keyboard(confirm, i18n))


async def grant(
    query: CallbackQuery,
    callback_data: AdminUserCb,
    i18n: I18n,
    plans: PlanCatalog,
    billing_admin: AdminService,
    user_lookup: UserLookup,
) -> None:
    plan, user_id = plans.find(callback_data.plan), callback_data.user
    days = plan.period_days if plan is not None else 0  # 0: "unknown plan" from billing
    report = await grant_report(
        billing_admin,
        i18n,
        query.from_user.id,
        user_id,
        callback_data.plan,
        days,
        request_id=callback_data.ref,
    )
    await edit_or_send(query, *await _card_screen(user_lookup, i18n, user_id, report))


async def choose_payment(
    query: CallbackQuery, callback_data: AdminUserCb, i18n: I18n, user_lookup: UserLookup
) -> None:
    card = await user_lookup.card_of(callback_data.user)
    if card is None or not card.refundable:
        await query.answer(i18n("admin-refund-none"), show_alert=True)
        return
    text = i18n("admin-refund-choose", user=str(card.user.id))
    await edit_or_send(query, text, view.refunds_keyboard(card, i18n))


async def confirm_refund(query: CallbackQuery, callback_data: AdminUserCb, i18n: I18n) -> None:
    confirm = AdminUserCb(action="rk", user=callback_data.user, ref=callback_data.ref)
    text = i18n("admin-refund-confirm", user=str(callback_data.user), ref=escape(callback_data.ref))
    await edit_or_send(query, text, view.confirm_keyboard(confirm, i18n))


async def refund(
    query: CallbackQuery,
    callback_data: AdminUserCb,
    i18n: I18n,
    billing_admin: AdminService,
    user_lookup: UserLookup,
) -> None:
    report = await refund_report(billing_admin, i18n, callback_data.ref, query.from_user.id)
    await edit_or_send(query, *await _card_screen(user_lookup, i18n, callback_data.user, report))


def build_router() -> Router:
    router = Router(name="admin-users")
    router.message.register(
        user_command,
        Command("admin", magic=F.args.regexp(r"(?i)^user(\s|$)")),
        flags=CONSENT_FREE,
    )
    # A command typed while the prompt waits is that command, not a user to look up.
    router.message.register(
        user_typed,
        StateFilter(AdminStates.user_query),
        Magic(F.text & ~F.text.startswith("/")),
        flags=CONSENT_FREE,
    )
    on_button = router.callback_query.register
    on_button(ask_for_user, AdminSection.filter(F.section == "users"), flags=CONSENT_FREE)
    actions: dict[str, Callable[..., Awaitable[None]]] = {
        "find": ask_for_user,
        "card": show_card,
        "g": choose_plan,
        "gp": confirm_grant,
        "gk": grant,
        "r": choose_payment,
        "rp": confirm_refund,
        "rk": refund,
    }
    for action, handler in actions.items():
        on_button(handler, AdminUserCb.filter(F.action == action), flags=CONSENT_FREE)
    return router
