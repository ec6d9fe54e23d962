"""Voice replies from an OpenAI-compatible ``POST /v1/audio/speech`` server (production TTS).

The request is OpenAI's: ``{"model", "voice", "input", "response_format": "opus"}``; servers
that implement it include OpenAI itself, vLLM-Omni, Kokoro-FastAPI, openedai-speech and
Speaches (docs/voice.md). The `openai` SDK (already the LLM client) brings the timeout, retries
with backoff on connection errors, 408/409/429 and 5xx, and typed errors.

"opus" means OGG/Opus from OpenAI, but not every server keeps to that (some send WebM, raw
PCM or a different rate), so an answer that is not OGG/Opus mono is decoded and re-encoded;
a conforming one is passed through untouched.
"""

from __future__ import annotations

import openai
from openai import AsyncOpenAI

from companion.config import TTSSettings
from companion.speech.synthesis import BoundedSynthesizer
from companion.speech.synthesis_audio import decode_pcm, encode_ogg_opus, join, probe
from companion.speech.synthesis_base import SynthesisError, SynthesisMetrics


def server_voice(settings: TTSSettings, voice: str, language: str) -> str:
    """The server's name for a card voice: per language first, then for all languages."""
    return (
        settings.voices.get(f"{language}/{voice}")
        or settings.voices.get(voice)
        or settings.voices.get(settings.default_voice)
        or voice
    )


class OpenAISpeechSynthesizer(BoundedSynthesizer):
    engine_name = "openai"

    def __init__(
        self,
        settings: TTSSettings,
        metrics: SynthesisMetrics | None = None,
        *,
        client: AsyncOpenAI | None = None,
    ) -> None:
        super().__init__(settings, metrics)
        if client is None and not settings.base_url:
            raise ValueError("tts.base_url must be set for tts.engine=openai")
        api_key = settings.api_key.get_secret_value() if settings.api_key else "EMPTY"
        self._client = client or AsyncOpenAI(
            base_url=settings.base_url,
            api_key=api_key,
            timeout=settings.timeout_s,
            max_retries=settings.retries,
        )

    async def _render(self, pieces: list[str], *, voice: str, language: str) -> tuple[bytes, float]:
        name = server_voice(self._settings, voice, language)
        answers = [await self._speech(piece, name) for piece in pieces]

        def work() -> tuple[bytes, float]:
            if len(answers) == 1:
                info = probe(answers[0])
                if info.codec == "opus" and info.channels == 1 and answers[0][:4] == b"OggS":
                    return answers[0], info.duration_s
            pcm = join([decode_pcm(answer) for answer in answers])
            return encode_ogg_opus(pcm, bitrate=self._settings.bitrate), pcm.duration_s

        return await self.in_thread(work)

    async def _speech(self, text: str, voice: str) -> bytes:
        try:
            response = await self._client.audio.speech.create(
                model=self._settings.model,
                voice=voice,
                input=text,
                response_format="opus",
            )
            data = await response.aread()
        except openai.APIStatusError as exc:
            raise SynthesisError(
                f"TTS server answered {exc.status_code}: {_short(exc.message)}"
            ) from exc
        except openai.APITimeoutError as exc:
            raise SynthesisError(
                f"TTS server timed out after {self._settings.timeout_s} s"
            ) from exc
        except openai.APIError as exc:
            raise SynthesisError(f"TTS server unreachable: {_short(str(exc))}") from exc
        if not data:
            raise SynthesisError("TTS server sent no audio")
        return data

    async def close(self) -> None:
        await self._client.close()
        await super().close()


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
