"""The persona card schema: what a product owner writes in one YAML file per persona."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

SUPPORTED_LANGUAGES = ("ru", "en")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,47}$")
# Engine-neutral voices a card may name for voice replies (docs/voice.md); each speech engine
# maps them to one of its own (eSpeak NG variants, a TTS server's voice names via tts.voices).
VOICE_IDS = (
    "female-warm",
    "female-bright",
    "female-calm",
    "male-warm",
    "male-deep",
    "male-bright",
)


class Module(StrEnum):
    SUPPORT = "support"  # free: friendly support, "not a psychologist" disclaimer
    PARTNER = "partner"  # PRO, 18+: romantic role-play within the card's limits
    PRACTICE = "practice"  # communication practice with feedback
    CELEBRITY = "celebrity"  # fictional famous characters, never real living people


class LocalizedText(RootModel[str | dict[str, str]]):
    """A plain string, or a mapping language -> string for user-facing texts."""

    def get(self, language: str) -> str:
        value = self.root
        if isinstance(value, str):
            return value
        for lang in (language, "en", "ru"):
            if value.get(lang):
                return value[lang]
        return next(iter(value.values()), "")

    @field_validator("root")
    @classmethod
    def _not_empty(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("must not be empty")
            return value
        if not value:
            raise ValueError("needs at least one language")
        unknown = set(value) - set(SUPPORTED_LANGUAGES)
        if unknown:
            raise ValueError(f"unknown language(s) {sorted(unknown)}; use {SUPPORTED_LANGUAGES}")
        return value


class ExampleTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str
    persona: str


class ExampleDialogue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str = "en"
    turns: list[ExampleTurn] = Field(min_length=1)


class GalleryImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str  # relative to the persona file's directory
    caption: LocalizedText
    tags: list[str] = Field(default_factory=list)
    adult: bool = False


class NameForms(BaseModel):
    """The persona's name in each grammatical case, as the author spells it (Russian: nom,
    gen, dat, acc, ins, pre). Cases left out come from a morphology library
    (`companion.personas.forms`); names it does not know stay as written."""

    model_config = ConfigDict(extra="forbid")
    nom: str | None = Field(default=None, max_length=80)
    gen: str | None = Field(default=None, max_length=80)
    dat: str | None = Field(default=None, max_length=80)
    acc: str | None = Field(default=None, max_length=80)
    ins: str | None = Field(default=None, max_length=80)
    pre: str | None = Field(default=None, max_length=80)


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=400, ge=16, le=4096)
    presence_penalty: float = Field(default=0.3, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.3, ge=-2.0, le=2.0)
    repetition_penalty: float | None = Field(default=None, ge=0.5, le=2.0)


class Persona(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: LocalizedText
    module: Module
    languages: list[str] = Field(min_length=1)
    preview: LocalizedText  # one or two lines for the library card
    description: str  # appearance and background, for the system prompt
    personality: str
    speaking_style: str
    scenario: str
    greetings: dict[str, list[str]]  # language -> greetings, one is chosen at random
    example_dialogues: list[ExampleDialogue] = Field(default_factory=list)
    boundaries: list[str] = Field(default_factory=list)
    gallery: list[GalleryImage] = Field(default_factory=list)
    lora_adapter: str | None = None
    sampling: Sampling = Field(default_factory=Sampling)
    pro_only: bool = False
    adult: bool = False
    tags: list[str] = Field(default_factory=list)
    # language -> the name's cases ({"ru": {"ins": "Львом", ...}}), for texts that decline it.
    name_forms: dict[str, NameForms] = Field(default_factory=dict)
    # How the persona and the bot's texts address the user in Russian: "ty" or "vy"; None:
    # the module's default (`companion.personas.forms.MODULE_ADDRESS`).
    address: Literal["ty", "vy"] | None = None
    # Voice replies: language -> voice id (VOICE_IDS), e.g. {"ru": "female-warm", "en":
    # "female-calm"}; a language left out speaks with the deployment's tts.default_voice.
    voice: dict[str, str] = Field(default_factory=dict)
    # Unknown fields from imported Character Cards, kept so an export loses nothing.
    extensions: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(
                "must be 2-48 characters of lowercase latin letters, digits, '-' or '_'"
            )
        return value

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        unknown = [lang for lang in value if lang not in SUPPORTED_LANGUAGES]
        if unknown:
            raise ValueError(f"unknown language(s) {unknown}; use {list(SUPPORTED_LANGUAGES)}")
        return value

    @field_validator("voice")
    @classmethod
    def _known_voices(cls, value: dict[str, str]) -> dict[str, str]:
        for language, voice in value.items():
            if language not in SUPPORTED_LANGUAGES:
                raise ValueError(f"unknown language {language!r}; use {list(SUPPORTED_LANGUAGES)}")
            if voice not in VOICE_IDS:
                raise ValueError(f"unknown voice {voice!r} for {language}; use {list(VOICE_IDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Persona:
        missing = [lang for lang in self.languages if not self.greetings.get(lang)]
        if missing:
            raise ValueError(f"greetings missing for language(s) {missing}")
        if self.module is Module.PARTNER and not (self.pro_only and self.adult):
            raise ValueError("partner personas must set pro_only: true and adult: true")
        return self

    def display_name(self, language: str) -> str:
        return self.name.get(language)

    def greeting_for(self, language: str, index: int = 0) -> str:
        options = self.greetings.get(language) or next(iter(self.greetings.values()))
        return options[index % len(options)]

    def voice_for(self, language: str, default: str) -> str:
        """The card's voice for a language, else ``default`` (the deployment's)."""
        return self.voice.get(language, default)

    def reply_language(self, preferred: str) -> str:
        return preferred if preferred in self.languages else self.languages[0]
