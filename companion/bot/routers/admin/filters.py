"""Who may open the admin panel: the ids in ``telegram.admin_ids``, in a private chat.

Applied once to the whole admin router (`companion.bot.routers.admin.build_router`), so every
section under it is guarded. Everyone else falls through to the routers after it, and a
command like /admin gets the same answer as any unknown command: the panel's existence is
not announced. A private chat only, so that user data never lands in a group.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from companion.config import TelegramSettings


class IsAdmin(Filter):
    async def __call__(self, event: Message | CallbackQuery, tg_settings: TelegramSettings) -> bool:
        user = event.from_user
        if user is None or user.id not in tg_settings.admin_ids:
            return False
        message = event.message if isinstance(event, CallbackQuery) else event
        return message is not None and message.chat.type == "private"
