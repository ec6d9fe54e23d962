"""Placeholders for /pro and /subscription until `companion.bot.routers.billing` exists.

The billing router replaces these: `build_dispatcher` includes this module only when
`companion/bot/routers/billing.py` is absent, so deleting this file is safe once it lands.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message

from companion.bot.localization import I18n


async def pro(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("pro-placeholder"))


async def subscription(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("subscription-placeholder"))


def build_router() -> Router:
    router = Router(name="billing-placeholder")
    router.message.filter(F.chat.type == "private")
    router.message.register(pro, Command("pro"))
    router.message.register(subscription, Command("subscription"))
    return router
