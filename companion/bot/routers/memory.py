"""/memory: what the bot remembers about the user, each item with a delete button."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from companion.bot.bad_updates import quietly
from companion.bot.callbacks import MemoryCb
from companion.bot.deps import MemoryFacts
from companion.bot.filters import Magic
from companion.bot.keyboards import memory_keyboard
from companion.bot.localization import I18n
from companion.bot.texts import TELEGRAM_TEXT_LIMIT, escape, shorten, utf16_len
from companion.domain.models import User
from companion.metrics import Metrics

# Buttons and the text must fit one message; the oldest facts beyond this are not listed.
MAX_LISTED = 40


async def _render(
    memory: MemoryFacts, user: User, i18n: I18n
) -> tuple[str, InlineKeyboardMarkup | None]:
    facts = list(await memory.list_facts(user.id))[:MAX_LISTED]
    if not facts:
        return i18n("memory-empty"), None
    lines = [i18n("memory-title"), ""]
    budget = TELEGRAM_TEXT_LIMIT - utf16_len("\n".join(lines)) - 16
    shown: list[str] = []
    for number, fact in enumerate(facts, start=1):
        line = f"{number}. {escape(shorten(fact.text, 300))}"
        if utf16_len(line) + 1 > budget:
            break
        budget -= utf16_len(line) + 1
        lines.append(line)
        shown.append(fact.id)
    return "\n".join(lines), memory_keyboard(shown)


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
    # Button data can be forged onto any message: only the (text) list is redrawn.
    if isinstance(query.message, Message) and query.message.text is not None:
        text, markup = await _render(memory, user, i18n)
        if text != query.message.html_text or markup != query.message.reply_markup:
            await quietly(query.message.edit_text(text, reply_markup=markup), metrics)


def build_router() -> Router:
    router = Router(name="memory")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(show_memory, Command("memory"))
    router.callback_query.register(delete_fact, MemoryCb.filter(F.action == "del"))
    return router
