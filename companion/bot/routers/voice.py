"""Voice notes, video notes, audio files and audio documents: transcribed, then answered as text.

The handler is thin: refuse by the declared size/duration (before downloading anything), show
"typing" while the note is downloaded and transcribed on the speech pool, then hand the
transcript to the same `ChatReplier` the text router uses, marked `MessageSource.VOICE`. Any
`SpeechError` becomes its localized text (voice.ftl) and nothing is stored.

Needs ``speech_pool`` (`companion.bot.services.SpeechPool`: the transcription pool, or
`NoSpeech` when the "voice" extra is not installed, which answers a polite "type instead").
``/echo`` toggles ``user.settings.echo_transcripts`` ("🎤 You said: …" before each reply).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.chat_action import ChatActionSender
from aiohttp import ClientError

from companion.bot.deps import Users
from companion.bot.filters import Check, Magic
from companion.bot.localization import I18n
from companion.bot.replying import ChatReplier
from companion.bot.services import SpeechPool
from companion.bot.texts import TELEGRAM_TEXT_LIMIT, escape, shorten
from companion.domain.models import MessageSource, User
from companion.speech.errors import AudioTooLargeError, SpeechError

log = logging.getLogger(__name__)

# Audio sent "as a file" arrives as a document; these are the ones worth trying to decode.
AUDIO_DOCUMENT_MIME_TYPES = ("audio/", "application/ogg")
DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class _Media:
    file_id: str
    size_bytes: int | None
    duration_s: float | None
    kind: str


def _media(message: Message) -> _Media | None:
    if message.voice is not None:
        v = message.voice
        return _Media(v.file_id, v.file_size, float(v.duration), "voice")
    if message.video_note is not None:
        n = message.video_note
        return _Media(n.file_id, n.file_size, float(n.duration), "video_note")
    if message.audio is not None:
        a = message.audio
        return _Media(a.file_id, a.file_size, float(a.duration), "audio")
    if message.document is not None:
        d = message.document
        return _Media(d.file_id, d.file_size, None, "document")
    return None


def _is_audio_document(message: Message) -> bool:
    mime = (message.document.mime_type or "") if message.document else ""
    return mime.lower().startswith(AUDIO_DOCUMENT_MIME_TYPES)


class VoiceDownloadError(SpeechError):
    """Telegram did not hand the note over: the user is told so, not that listening failed."""

    message_id = "voice-download-failed"


async def _download(bot: Bot, media: _Media, limit_bytes: int) -> bytes:
    try:
        file = await bot.get_file(media.file_id)
    except TelegramBadRequest as exc:
        if "too big" in exc.message.lower():  # getFile refuses files over 20 MB
            raise AudioTooLargeError(media.size_bytes or limit_bytes + 1, limit_bytes) from exc
        raise VoiceDownloadError(f"getFile failed: {exc.message}") from exc
    except (TelegramAPIError, ClientError, TimeoutError) as exc:
        raise VoiceDownloadError(f"getFile failed: {type(exc).__name__}") from exc
    if file.file_size is not None and file.file_size > limit_bytes:
        raise AudioTooLargeError(file.file_size, limit_bytes)
    if file.file_path is None:
        raise VoiceDownloadError("Telegram gave no file path for the note")
    buffer = io.BytesIO()
    try:
        await bot.download_file(file.file_path, destination=buffer, timeout=DOWNLOAD_TIMEOUT_S)
    except (TelegramAPIError, ClientError, TimeoutError) as exc:
        raise VoiceDownloadError(f"download failed: {type(exc).__name__}") from exc
    return buffer.getvalue()


async def voice_message(
    message: Message,
    bot: Bot,
    user: User,
    i18n: I18n,
    replier: ChatReplier,
    speech_pool: SpeechPool,
) -> None:
    media = _media(message)
    text = await _transcribe(message, bot, user, i18n, speech_pool, media) if media else None
    if text is None:
        return
    if user.settings.echo_transcripts:
        echo = i18n("voice-echo", text=escape(shorten(text, TELEGRAM_TEXT_LIMIT - 64)))
        await message.answer(echo)
    chat = message.chat
    await replier.reply(bot, chat.id, chat.type, user, i18n, text, source=MessageSource.VOICE)


async def _transcribe(
    message: Message, bot: Bot, user: User, i18n: I18n, pool: SpeechPool, media: _Media
) -> str | None:
    """The note's text, or None when the user was told why there is none."""
    try:
        pool.check_declared(media.size_bytes, media.duration_s)
        async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id):
            audio = await _download(bot, media, pool.max_file_bytes)
            transcript = await pool.transcribe(user.id, audio)
    except SpeechError as exc:
        log.info("voice note from %s not transcribed: %s", user.id, type(exc).__name__)
        await message.answer(i18n(exc.message_id, **exc.message_args))
        return None
    except (TelegramAPIError, ClientError, TimeoutError) as exc:
        # Downloads raise VoiceDownloadError above; this is the transcription side.
        log.warning("voice note from %s failed: %s", user.id, type(exc).__name__)
        await message.answer(i18n("voice-failed"))
        return None
    log.info(
        "voice note from %s: %s, %.1f s of audio in %.1f s",
        user.id,
        transcript.language,
        transcript.duration_s,
        transcript.processing_s,
    )
    return transcript.text


async def toggle_echo(message: Message, user: User, i18n: I18n, users: Users) -> None:
    enabled = not user.settings.echo_transcripts
    await users.update(user.id, settings__echo_transcripts=enabled)
    await message.answer(i18n("voice-echo-on" if enabled else "voice-echo-off"))


def build_router() -> Router:
    router = Router(name="voice")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(toggle_echo, Command("echo"))
    router.message.register(voice_message, Magic(F.voice | F.video_note | F.audio))
    router.message.register(voice_message, Magic(F.document), Check(_is_audio_document))
    return router
