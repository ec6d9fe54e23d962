"""``/voice on|off``: voice notes after the persona's text replies (docs/voice.md).

A voice note from the user is always answered with one as well; ``/voice on`` adds one to
replies to text messages too (``user.settings.voice_replies``). ``/voice`` alone shows the
state and how to change it. When the deployment has voice replies off (``tts.engine=off``) the
user is told so and nothing changes.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from companion.bot.deps import Users
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.bot.voice_replier import VoiceReplier
from companion.domain.models import User

_SWITCH = {"on": True, "off": False, "вкл": True, "выкл": False}


async def voice_replies_command(
    message: Message,
    command: CommandObject,
    user: User,
    i18n: I18n,
    users: Users,
    voice_replier: VoiceReplier,
) -> None:
    if not voice_replier.available:
        await message.answer(i18n("voice-replies-unavailable"))
        return
    wanted = _SWITCH.get((command.args or "").strip().lower())
    if wanted is None:
        enabled = "yes" if user.settings.voice_replies else "no"
        await message.answer(i18n("voice-replies-usage", enabled=enabled))
        return
    await users.update(user.id, settings__voice_replies=wanted)
    await message.answer(i18n("voice-replies-on" if wanted else "voice-replies-off"))


def build_router() -> Router:
    router = Router(name="voice_replies")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(voice_replies_command, Command("voice"))
    return router
