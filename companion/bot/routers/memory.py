"""/memory: what the bot remembers about the user; each item can be deleted or reworded.

The list has a delete button per item and an "edit" button that turns them into edit buttons;
picking one asks for the new wording (an FSM state holding the fact's id), which replaces the
fact's text (the old one stays in its history) and is embedded again for recall.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from companion.bot.bad_updates import quietly
from companion.bot.callbacks import MemoryCb
from companion.bot.deps import MemoryFacts
from companion.bot.filters import Magic
from companion.bot.keyboards import memory_cancel_keyboard, memory_keyboard
from companion.bot.localization import I18n
from companion.bot.states import MemoryStates
from companion.bot.texts import TELEGRAM_TEXT_LIMIT, escape, shorten, utf16_len
from companion.domain.models import User
from companion.metrics import Metrics

# Buttons and the text must fit one message; the oldest facts beyond this are not listed.
MAX_LISTED = 40
# A fact is one short statement; a longer "fact" is a message meant for the persona.
MAX_FACT_CHARS = 300


async def _render(
    memory: MemoryFacts, user: User, i18n: I18n, *, editing: bool = False
) -> tuple[str, InlineKeyboardMarkup | None]:
    facts = list(await memory.list_facts(user.id))[:MAX_LISTED]
    if not facts:
        return i18n("memory-empty"), None
    lines = [i18n("memory-title-edit" if editing else "memory-title"), ""]
    budget = TELEGRAM_TEXT_LIMIT - utf16_len("\n".join(lines)) - 16
    shown: list[str] = []
    for number, fact in enumerate(facts, start=1):
        line = f"{number}. {escape(shorten(fact.text, MAX_FACT_CHARS))}"
        if utf16_len(line) + 1 > budget:
            break
        budget -= utf16_len(line) + 1
        lines.append(line)
        shown.append(fact.id)
    return "\n".join(lines), memory_keyboard(shown, i18n, editing=editing)


async def _redraw(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> bool:
    """Redraw the list the button is on; False when it is not a (text) list message."""
    # Button data can be forged onto any message: only the (text) list is redrawn.
    if not isinstance(query.message, Message) or query.message.text is None:
        return False
    if text != query.message.html_text or markup != query.message.reply_markup:
        await query.message.edit_text(text, reply_markup=markup)
    return True


async def show_memory(message: Message, user: User, i18n: I18n, memory: MemoryFacts) -> None:
    text, markup = await _render(memory, user, i18n)
    await message.answer(text, reply_markup=markup)


async def delete_fact(
    query: CallbackQuery,
    callback_data: MemoryCb,
    user: User,
    i18n: I18n,
    memory: MemoryFacts,
    metrics: Metrics,
) -> None:
    deleted = await memory.delete_fact(user.id, callback_data.fact)
    await query.answer(i18n("memory-deleted" if deleted else "memory-not-found"))
    text, markup = await _render(memory, user, i18n)
    await quietly(_redraw(query, text, markup), metrics)


async def switch_mode(
    query: CallbackQuery,
    callback_data: MemoryCb,
    user: User,
    i18n: I18n,
    memory: MemoryFacts,
    metrics: Metrics,
) -> None:
    """The list's buttons become edit buttons ("editmode") or delete buttons again."""
    await query.answer()
    text, markup = await _render(memory, user, i18n, editing=callback_data.action == "editmode")
    await quietly(_redraw(query, text, markup), metrics)


async def ask_wording(
    query: CallbackQuery,
    callback_data: MemoryCb,
    user: User,
    i18n: I18n,
    memory: MemoryFacts,
    state: FSMContext,
) -> None:
    fact = next((f for f in await memory.list_facts(user.id) if f.id == callback_data.fact), None)
    if fact is None or not isinstance(query.message, Message):
        await query.answer(i18n("memory-not-found"))
        return
    await query.answer()
    await state.set_state(MemoryStates.new_wording)
    await state.update_data(fact_id=fact.id)
    cancel = memory_cancel_keyboard(i18n)
    text = i18n("memory-edit-ask", fact=escape(shorten(fact.text, MAX_FACT_CHARS)))
    await query.message.answer(text, reply_markup=cancel)


async def save_wording(
    message: Message, user: User, i18n: I18n, memory: MemoryFacts, state: FSMContext
) -> None:
    wording = " ".join((message.text or "").split())
    if not wording or len(wording) > MAX_FACT_CHARS:
        await message.answer(i18n("memory-edit-bad", limit=MAX_FACT_CHARS))
        return  # still waiting: the user can try again or cancel
    fact_id = str((await state.get_data()).get("fact_id", ""))
    await state.clear()
    edited = await memory.edit_fact(user.id, fact_id, wording)
    if edited is None:
        await message.answer(i18n("memory-not-found"))
        return
    text, markup = await _render(memory, user, i18n)
    await message.answer(i18n("memory-edited", fact=escape(edited.text)))
    await message.answer(text, reply_markup=markup)


async def cancel_edit(query: CallbackQuery, i18n: I18n, state: FSMContext) -> None:
    await state.clear()
    await query.answer(i18n("memory-edit-cancelled"))
    if isinstance(query.message, Message):
        await query.message.edit_text(i18n("memory-edit-cancelled"))


async def command_while_editing(message: Message, state: FSMContext) -> None:
    """A command is not a new wording: the edit is dropped and the command runs as usual."""
    await state.clear()
    raise SkipHandler


def build_editing_router() -> Router:
    """The new wording of a fact: first of all routers, so that any command sent meanwhile
    drops the edit before its own router answers it (and is never taken as the wording)."""
    router = Router(name="memory-editing")
    router.message.filter(Magic(F.chat.type == "private"), StateFilter(MemoryStates.new_wording))
    router.message.register(command_while_editing, Magic(F.text.startswith("/")))
    router.message.register(save_wording, Magic(F.text & ~F.text.startswith("/")))
    return router


def build_router() -> Router:
    router = Router(name="memory")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(show_memory, Command("memory"))
    router.callback_query.register(delete_fact, MemoryCb.filter(F.action == "del"))
    router.callback_query.register(
        switch_mode, MemoryCb.filter(F.action.in_({"editmode", "delmode"}))
    )
    router.callback_query.register(ask_wording, MemoryCb.filter(F.action == "edit"))
    router.callback_query.register(cancel_edit, MemoryCb.filter(F.action == "cancel"))
    return router
