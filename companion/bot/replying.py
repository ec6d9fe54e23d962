"""One user message in, the persona's reply out in Telegram: the chat and voice routers' core.

`ChatReplier.reply` asks the dialogue service for the reply of the user's current persona and
renders what it yields: notices (the Support disclaimer, a crisis reply) as their locale texts,
text chunks as a streamed message (`ReplyStream`), photos after the text. Typing is shown until
the first words arrive. Every refusal or failure becomes a polite message in the user's
language; nothing here raises on a domain error.

The voice router calls it with the transcript:
``await replier.reply(bot, message.chat.id, message.chat.type, user, i18n, transcript,
source=MessageSource.VOICE)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from enum import StrEnum
from pathlib import Path

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.utils.chat_action import ChatActionSender

from companion.bot.deps import Dialogs
from companion.bot.failures import is_infrastructure_failure
from companion.bot.keyboards import adult_keyboard
from companion.bot.library import LibraryView
from companion.bot.localization import I18n
from companion.bot.photos import PhotoSender
from companion.bot.streaming import ReplyStream, StreamingPolicy
from companion.bot.texts import TELEGRAM_CAPTION_LIMIT, escape, shorten
from companion.bot.voice_replier import VoiceReplier
from companion.dialogs.events import (
    AccessDeniedError,
    InvalidMessageError,
    Notice,
    NoticeKind,
    PhotoToSend,
    ReplyDone,
    ReplyFailedError,
    TextDelta,
    UnknownPersonaError,
)
from companion.domain.models import Event, EventName, MessageSource, User
from companion.domain.ports import AccessDecision, EventSink
from companion.metrics import Metrics
from companion.personas.forms import address_of

log = logging.getLogger(__name__)


# Shows the PRO offer (the billing router's `show_paywall`): bot, chat id, i18n, persona name.
Paywall = Callable[[Bot, int, I18n, str | None], Awaitable[None]]


class ReplyOutcome(StrEnum):
    REPLIED = "replied"
    NO_PERSONA = "no_persona"
    REJECTED = "rejected"  # invalid text, access denied, unknown persona
    FAILED = "failed"  # the model failed; the user got an apology


class ChatReplier:
    def __init__(
        self,
        dialogs: Dialogs,
        library: LibraryView,
        photos: PhotoSender,
        policy: StreamingPolicy,
        *,
        events: EventSink,
        paywall: Paywall,
        metrics: Metrics | None = None,
        voice: VoiceReplier | None = None,
    ) -> None:
        self._metrics = metrics
        # Voice replies (companion.bot.voice_replier): a voice note after the text.
        self._voice = voice
        self._dialogs = dialogs
        self._paywall = paywall
        self._library = library
        self._photos = photos
        self._policy = policy
        self._events = events

    async def reply(
        self,
        bot: Bot,
        chat_id: int,
        chat_type: str,
        user: User,
        i18n: I18n,
        text: str,
        *,
        source: MessageSource = MessageSource.TEXT,
    ) -> ReplyOutcome:
        outcome = await self._reply(bot, chat_id, chat_type, user, i18n, text, source=source)
        if self._metrics is not None:
            self._metrics.reply(outcome.value)
        return outcome

    async def _reply(
        self,
        bot: Bot,
        chat_id: int,
        chat_type: str,
        user: User,
        i18n: I18n,
        text: str,
        *,
        source: MessageSource,
    ) -> ReplyOutcome:
        persona_id = user.current_persona_id
        if persona_id is None:
            await bot.send_message(chat_id, i18n("no-persona"))
            await self._library.show(bot, chat_id, i18n)
            return ReplyOutcome.NO_PERSONA

        stream = ReplyStream(
            bot, chat_id, private=chat_type == ChatType.PRIVATE, policy=self._policy
        )
        photos: list[PhotoToSend] = []
        crisis_shown = False
        spoken = ""  # the reply text the user saw, for a voice reply
        async with AsyncExitStack() as typing:
            await typing.enter_async_context(ChatActionSender.typing(bot=bot, chat_id=chat_id))
            events = self._dialogs.reply(user, persona_id, text, source=source)
            try:
                async with contextlib.aclosing(events):  # type: ignore[type-var]
                    async for event in events:
                        if isinstance(event, TextDelta):
                            if not stream.started:
                                await typing.aclose()
                            stream.push(event.text)
                        elif isinstance(event, Notice):
                            # In the persona's ты/вы (the texts select on $address).
                            address = address_of(self._library.persona(persona_id))
                            await bot.send_message(
                                chat_id,
                                i18n.for_language(event.language)(event.text_key, address=address),
                            )
                            crisis_shown = crisis_shown or event.kind is NoticeKind.CRISIS
                        elif isinstance(event, PhotoToSend):
                            photos.append(event)
                        elif isinstance(event, ReplyDone):
                            await typing.aclose()
                            if stream.started or not crisis_shown:
                                await stream.finish(event.text)
                                spoken = event.text
            except InvalidMessageError as exc:
                key = "message-too-long" if exc.reason == "too_long" else "message-empty"
                await bot.send_message(chat_id, i18n(key, limit=exc.limit or 0))
                return ReplyOutcome.REJECTED
            except AccessDeniedError as exc:
                await self.access_denied(bot, chat_id, user, i18n, persona_id, exc.decision)
                return ReplyOutcome.REJECTED
            except UnknownPersonaError:
                await bot.send_message(chat_id, i18n("persona-unknown"))
                await self._library.show(bot, chat_id, i18n)
                return ReplyOutcome.REJECTED
            except ReplyFailedError as exc:
                await typing.aclose()
                if not stream.started and is_infrastructure_failure(exc):
                    # The model was unreachable and nothing was shown: the error handler
                    # defers the update, and it is answered when the model is back.
                    raise
                await stream.abort()
                await bot.send_message(chat_id, i18n("reply-failed"))
                return ReplyOutcome.FAILED
        for photo in photos:
            await self._send_photo(bot, chat_id, photo)
        if self._voice is not None and spoken:
            persona = self._library.persona(persona_id)
            await self._voice.after_reply(bot, chat_id, user, persona, spoken, source=source)
        return ReplyOutcome.REPLIED

    async def access_denied(
        self,
        bot: Bot,
        chat_id: int,
        user: User,
        i18n: I18n,
        persona_id: str,
        decision: AccessDecision,
    ) -> None:
        persona = self._library.persona(persona_id)
        plain_name = persona.display_name(i18n.language) if persona else persona_id
        name = escape(plain_name)
        if decision is AccessDecision.NEEDS_ADULT_CONFIRMATION:
            await bot.send_message(
                chat_id,
                i18n("persona-needs-adult", name=name),
                reply_markup=adult_keyboard(i18n, persona_id),
            )
            return
        await self._paywall(bot, chat_id, i18n, plain_name)
        await self._events.record(
            Event(user_id=user.id, name=EventName.PAYWALL_SHOWN, data={"persona": persona_id})
        )

    async def _send_photo(self, bot: Bot, chat_id: int, photo: PhotoToSend) -> None:
        await self._photos.send(
            bot,
            chat_id,
            Path(photo.path),
            caption=escape(shorten(photo.caption, TELEGRAM_CAPTION_LIMIT)) or None,
            placeholder=photo.caption,
        )
