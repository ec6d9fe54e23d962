"""`companion speak "TEXT" --persona ID -o FILE.ogg`: hear a persona's voice while writing its card.

The same path as a voice reply in the bot: the text is prepared the same way (markup and emoji
removed, length capped), the persona card's ``voice`` for the language is used (else
``tts.default_voice``), and the engine is the one ``tts.engine`` names unless ``--engine``
picks another. The result is the OGG/Opus voice note the bot would send.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from companion.cli.errors import fail, settings_or_exit, stderr
from companion.config import Settings
from companion.domain.personas import Persona
from companion.personas.repository import PersonaRepository, packaged_library_dir
from companion.speech.synthesis_base import (
    SynthesisError,
    VoiceNote,
    build_synthesizer,
    guess_language,
)

stdout = Console(highlight=False, soft_wrap=True)


class Language(StrEnum):
    RU = "ru"
    EN = "en"


class Engine(StrEnum):
    OFFLINE = "offline"
    OPENAI = "openai"


def speak(
    text: Annotated[
        str, typer.Argument(help="What the persona says (Markdown and emoji are fine).")
    ],
    persona_id: Annotated[str, typer.Option("--persona", "-p", help="Persona id (card file).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the .ogg file.")],
    language: Annotated[
        Language | None, typer.Option(help="Language of the text; default: guessed from it.")
    ] = None,
    engine: Annotated[
        Engine | None, typer.Option(help="Speech engine; default: the tts.engine setting.")
    ] = None,
) -> None:
    """Render TEXT in a persona's voice as a Telegram voice note (OGG/Opus)."""
    settings = settings_or_exit()
    if engine is not None:
        settings.tts.engine = engine.value
    persona = _persona(settings, persona_id)
    spoken = language.value if language else guess_language(text, fallback=persona.languages[0])
    voice = persona.voice_for(spoken, settings.tts.default_voice)
    with stderr.status(f"synthesising ({settings.tts.engine}, {voice}, {spoken})…"):
        try:
            note = asyncio.run(_synthesize(settings, text, voice, spoken))
        except SynthesisError as exc:
            fail(f"synthesis failed: {exc}")
    if note is None:
        fail("nothing to say aloud: the text has no words once markup and emoji are removed")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(note.ogg)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    stdout.print(
        f"{output}: {note.duration_s:.1f} s of {spoken} speech, voice {voice} "
        f"({note.engine}, synthesised in {note.synthesis_s:.2f} s)"
    )


def _persona(settings: Settings, persona_id: str) -> Persona:
    repository = PersonaRepository(settings.personas.directory or packaged_library_dir())
    repository.load_all()
    persona = repository.get(persona_id)
    if persona is None:
        known = ", ".join(sorted(p.id for p in repository.all())) or "none"
        fail(f"no persona {persona_id!r} (known: {known})")
    return persona


async def _synthesize(settings: Settings, text: str, voice: str, language: str) -> VoiceNote | None:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        synthesizer = build_synthesizer(settings.tts, None, stack)
        if not synthesizer.enabled:
            raise SynthesisError("voice replies are off (tts.engine=off, or no voice extra)")
        return await synthesizer.synthesize(text, voice=voice, language=language)
