"""The persona's reply as a Telegram voice note, sent after the text reply (docs/voice.md).

`ChatReplier` calls `VoiceReplier.after_reply` once the text is out. A note is sent when the
user spoke (a voice note or other audio: `MessageSource.VOICE`) or turned voice replies on with
``/voice on`` (``user.settings.voice_replies``). While it is synthesised the chat shows
"recording a voice message". Nothing here raises: the text already reached the user, so a failed
synthesis or upload is logged and counted (``companion_tts_failures_total``), never shown.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile
from aiogram.utils.chat_action import ChatActionSender
from aiohttp import ClientError

from companion.domain.models import MessageSource, User
from companion.domain.personas import Persona
from companion.speech.synthesis_base import (
    SpeechSynthesizer,
    SynthesisError,
    SynthesisMetrics,
    guess_language,
)

log = logging.getLogger(__name__)


class VoiceReplier:
    def __init__(
        self,
        synthesizer: SpeechSynthesizer,
        default_voice: str,
        metrics: SynthesisMetrics | None = None,
    ) -> None:
        self._synthesizer = synthesizer
        self._default_voice = default_voice
        self._metrics = metrics

    @property
    def available(self) -> bool:
        return self._synthesizer.enabled

    def wanted(self, user: User, source: MessageSource) -> bool:
        return self.available and (source is MessageSource.VOICE or user.settings.voice_replies)

    async def after_reply(
        self,
        bot: Bot,
        chat_id: int,
        user: User,
        persona: Persona | None,
        text: str,
        *,
        source: MessageSource,
    ) -> bool:
        """Send ``text`` as a voice note if the user wants one; True when one was sent."""
        if not text or not self.wanted(user, source):
            return False
        language = guess_language(text, fallback=user.language)
        voice = persona.voice_for(language, self._default_voice) if persona else None
        try:
            async with ChatActionSender.record_voice(bot=bot, chat_id=chat_id):
                note = await self._synthesizer.synthesize(
                    text, voice=voice or self._default_voice, language=language
                )
                if note is None:  # only emoji or links: nothing to say aloud
                    return False
                await bot.send_voice(
                    chat_id,
                    BufferedInputFile(note.ogg, filename="reply.ogg"),
                    duration=max(1, round(note.duration_s)),
                )
        except SynthesisError as exc:
            # The synthesizer counted it already.
            log.warning("voice reply to %s not synthesised: %s", user.id, exc)
            return False
        except (TelegramAPIError, ClientError, TimeoutError) as exc:
            log.warning("voice reply to %s not sent: %s", user.id, type(exc).__name__)
            self._failed("send")
            return False
        except Exception:
            log.exception("voice reply to %s failed", user.id)
            self._failed("unexpected")
            return False
        log.info(
            "voice reply to %s: %s, %.1f s of audio in %.2f s (%s)",
            user.id,
            language,
            note.duration_s,
            note.synthesis_s,
            note.engine,
        )
        return True

    def _failed(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.failed(reason)
