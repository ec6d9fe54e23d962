"""The Broadcast section of the owner's console: compose, preview, segment, confirm, follow.

    /admin → 📣 Broadcast → the message (text, or photo + caption) → link buttons or "No buttons"
    → a preview sent to the admin as people will see it → a segment (everyone, PRO, free,
    a language, a persona, inactive N days) with its head count → Send → progress → report

The composing steps live in the FSM (Redis); from the preview on, the buttons carry the
campaign id, stored as a draft in MongoDB (`companion.broadcasts`). Send confirms it, writing
the recipients; the bot's broadcast worker sends them and edits the same message with progress,
then the report. Stop cancels what is still pending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from companion.bot.broadcast_sender import AiogramBroadcastSender, BroadcastCb, stop_markup
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.bot.routers.admin import broadcast_views as view
from companion.bot.routers.admin.callbacks import AdminSection
from companion.bot.routers.admin.menu import CONSENT_FREE, edit_or_send
from companion.bot.texts import escape
from companion.broadcasts.models import (
    Button,
    Content,
    ContentError,
    Outcome,
    SegmentKind,
    parse_buttons,
)
from companion.broadcasts.service import BroadcastService
from companion.domain.ports import PersonaCatalog
from companion.i18n import Translator

_NOT_A_COMMAND = Magic(~F.text.startswith("/"))


async def start_compose(query: CallbackQuery, i18n: I18n, state: FSMContext) -> None:
    await state.set_state(view.BroadcastStates.compose)
    await edit_or_send(query, i18n("broadcast-compose"), view.cancel_keyboard(i18n))


async def composed(message: Message, i18n: I18n, state: FSMContext) -> None:
    content = view.content_of(message)
    if content is None:
        key = "broadcast-compose-empty" if message.text else "broadcast-compose-unsupported"
        await message.answer(i18n(key), reply_markup=view.cancel_keyboard(i18n))
        return
    await state.update_data(broadcast=content.model_dump(mode="json"))
    await state.set_state(view.BroadcastStates.buttons)
    await message.answer(i18n("broadcast-buttons"), reply_markup=view.buttons_keyboard(i18n))


async def buttons_typed(
    message: Message,
    i18n: I18n,
    state: FSMContext,
    broadcasts: BroadcastService,
    bot: Bot,
    translator: Translator,
) -> None:
    try:
        buttons = parse_buttons(message.text or "")
    except ContentError as exc:
        text = i18n("broadcast-buttons-invalid", line=exc.line, reason=exc.reason)
        await message.answer(text, reply_markup=view.buttons_keyboard(i18n))
        return
    await _preview(
        message, i18n, state, broadcasts, AiogramBroadcastSender(bot, translator), buttons
    )


async def no_buttons(
    query: CallbackQuery,
    i18n: I18n,
    state: FSMContext,
    broadcasts: BroadcastService,
    bot: Bot,
    translator: Translator,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        sender = AiogramBroadcastSender(bot, translator)
        await _preview(query.message, i18n, state, broadcasts, sender, [])


async def _preview(
    message: Message,
    i18n: I18n,
    state: FSMContext,
    broadcasts: BroadcastService,
    sender: AiogramBroadcastSender,
    buttons: list[Button],
) -> None:
    """Send the message to the admin exactly as recipients get it, then ask for a segment."""
    stored = (await state.get_data()).get("broadcast")
    if stored is None:  # the FSM data expired: start again
        await state.set_state(view.BroadcastStates.compose)
        await message.answer(i18n("broadcast-compose"), reply_markup=view.cancel_keyboard(i18n))
        return
    content = Content.model_validate({**stored, "buttons": buttons})
    delivery = await sender.send(message.chat.id, i18n.language, content)
    if delivery.outcome is not Outcome.SENT:
        await state.set_state(view.BroadcastStates.compose)
        reason = escape(delivery.detail or delivery.outcome.value)
        await message.answer(i18n("broadcast-preview-failed", reason=reason))
        return
    await state.clear()
    campaign = await broadcasts.draft(
        content, admin_id=message.chat.id, admin_language=i18n.language
    )
    text = f"{i18n('broadcast-preview-title')}\n\n{i18n('broadcast-segment')}"
    await message.answer(text, reply_markup=view.segments_keyboard(i18n, campaign.id))


async def show_segments(
    query: CallbackQuery, callback_data: BroadcastCb, i18n: I18n, state: FSMContext
) -> None:
    await state.clear()  # no longer waiting for a number of days
    markup = view.segments_keyboard(i18n, callback_data.campaign)
    await edit_or_send(query, i18n("broadcast-segment"), markup)


async def _confirm_screen(
    cb: BroadcastCb, i18n: I18n, broadcasts: BroadcastService, personas: PersonaCatalog
) -> tuple[str, InlineKeyboardMarkup] | None:
    """The segment's head count with Send (or "nobody there"); None for a forged segment."""
    segment = view.segment_of(cb)
    if segment is None:
        return None
    name = escape(view.segment_name(segment, i18n, personas))
    count = await broadcasts.count(segment)
    key, markup = "broadcast-confirm", view.confirm_keyboard(i18n, cb.campaign, cb)
    if count == 0:
        key, markup = "broadcast-confirm-empty", view.retry_keyboard(i18n, cb.campaign)
    return i18n(key, segment=name, count=count), markup


async def pick_segment(
    query: CallbackQuery,
    callback_data: BroadcastCb,
    i18n: I18n,
    state: FSMContext,
    broadcasts: BroadcastService,
    personas: PersonaCatalog,
) -> None:
    cid = callback_data.campaign
    await state.clear()
    if not callback_data.value and callback_data.kind == SegmentKind.PERSONA:
        markup = view.personas_keyboard(i18n, cid, personas)
        await edit_or_send(query, i18n("broadcast-pick-persona"), markup)
        return
    if not callback_data.value and callback_data.kind == SegmentKind.INACTIVE:
        await state.set_state(view.BroadcastStates.inactive_days)
        await state.update_data(broadcast_campaign=cid)
        await edit_or_send(query, i18n("broadcast-pick-inactive"), view.days_keyboard(i18n, cid))
        return
    screen = await _confirm_screen(callback_data, i18n, broadcasts, personas)
    if screen is None:
        await query.answer(i18n("broadcast-gone"), show_alert=True)
        return
    await edit_or_send(query, *screen)


async def days_typed(
    message: Message,
    i18n: I18n,
    state: FSMContext,
    broadcasts: BroadcastService,
    personas: PersonaCatalog,
) -> None:
    """A number of days typed instead of pressing one of the presets."""
    cid = (await state.get_data()).get("broadcast_campaign", "")
    days = (message.text or "").strip()
    cb = BroadcastCb(action="seg", campaign=cid, kind=SegmentKind.INACTIVE.value, value=days)
    screen = await _confirm_screen(cb, i18n, broadcasts, personas) if days.isdigit() else None
    if screen is None:
        await message.answer(
            i18n("broadcast-days-invalid"), reply_markup=view.days_keyboard(i18n, cid)
        )
        return
    await state.clear()
    await message.answer(screen[0], reply_markup=screen[1])


async def send(
    query: CallbackQuery, callback_data: BroadcastCb, i18n: I18n, broadcasts: BroadcastService
) -> None:
    segment, message = view.segment_of(callback_data), query.message
    if segment is None or not isinstance(message, Message):
        await query.answer(i18n("broadcast-gone"), show_alert=True)
        return
    campaign = await broadcasts.confirm(
        callback_data.campaign, segment, chat_id=message.chat.id, message_id=message.message_id
    )
    if campaign is None:  # a second press, or cancelled meanwhile
        await query.answer(i18n("broadcast-gone"), show_alert=True)
        return
    text = i18n("broadcast-queued", total=campaign.total)
    await edit_or_send(query, text, stop_markup(campaign.id, i18n))


async def cancel(
    query: CallbackQuery,
    callback_data: BroadcastCb,
    i18n: I18n,
    state: FSMContext,
    broadcasts: BroadcastService,
) -> None:
    await state.clear()
    if callback_data.campaign:
        await broadcasts.cancel(callback_data.campaign)
    await edit_or_send(query, i18n("broadcast-cancelled"), view.menu_keyboard(i18n))


async def stop(
    query: CallbackQuery, callback_data: BroadcastCb, i18n: I18n, broadcasts: BroadcastService
) -> None:
    stopped = await broadcasts.cancel(callback_data.campaign)
    await query.answer(i18n("broadcast-stopped" if stopped else "broadcast-gone"))


def build_router() -> Router:
    router = Router(name="admin-broadcast")
    on_button = router.callback_query.register
    on_button(start_compose, AdminSection.filter(F.section == "broadcast"), flags=CONSENT_FREE)
    compose, buttons = view.BroadcastStates.compose, view.BroadcastStates.buttons
    router.message.register(composed, StateFilter(compose), _NOT_A_COMMAND, flags=CONSENT_FREE)
    router.message.register(
        buttons_typed, StateFilter(buttons), Magic(F.text), _NOT_A_COMMAND, flags=CONSENT_FREE
    )
    router.message.register(
        days_typed,
        StateFilter(view.BroadcastStates.inactive_days),
        Magic(F.text),
        _NOT_A_COMMAND,
        flags=CONSENT_FREE,
    )
    actions: dict[str, Callable[..., Awaitable[None]]] = {
        "nobuttons": no_buttons,
        "segments": show_segments,
        "seg": pick_segment,
        "send": send,
        "cancel": cancel,
        "stop": stop,
    }
    for action, handler in actions.items():
        on_button(handler, BroadcastCb.filter(F.action == action), flags=CONSENT_FREE)
    return router
