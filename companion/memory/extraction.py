"""Fact extraction: the latest exchanges in, candidate facts about the user out.

The model gets `companion/prompts/memory/extract.j2` and a JSON schema
(`ChatRequest.json_schema`: vLLM enforces it through ``response_format``; the local backend
only describes it). Whatever comes back is validated with pydantic item by item: valid items
are kept even when others are not (partial output), output that is not JSON of the expected
shape is asked for once more and then dropped with a warning. Facts must come from the user's
own messages: an item whose sources are only the persona's lines is dropped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from companion.domain.models import Message, MessageRole
from companion.llm.base import ChatMessage, ChatModel, ChatRequest, LLMError, Role, SamplingParams
from companion.memory.dates import resolve_date
from companion.memory.facts import FactCategory
from companion.prompts import prompt_templates

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"ru": "Russian", "en": "English"}
MAX_FACT_CHARS = 300
MAX_FACTS_PER_PASS = 8

# The persona's lines are context only (facts come from the user's): their head is enough, and
# a long reply made the extraction prompt twice as long (every decoding pass reads it).
MAX_PERSONA_LINE_CHARS = 240

# A user message rarely holds more than a few facts; a small model given room for 8 fills it
# with repeats (measured: 8 copies of one fact, 279 tokens, most of an extraction's time).
FACTS_PER_USER_MESSAGE = 3


# Greetings, thanks and acknowledgements: a user message made of these words only says
# nothing to remember ("Skip greetings, small talk..." in memory/extract.j2), so a batch whose
# user messages are all like that is not sent to the model. Closed-class words only: "yes"
# and "no" answer a question and may well be a fact, so they are not here.
_PHATIC = """
    hi hello hey hiya yo morning evening afternoon night good thanks thank thx ty you so much
    how are doing
    very ok okay k cool nice great fine alright bye goodbye see ya later lol haha hah hmm wow
    oh ah sure np welcome too
    привет приветик здравствуй здравствуйте добрый доброе доброй утро утра день вечер ночи
    спасибо спс благодарю большое тебе вам пока ок окей ага угу хорошо ладно понятно ясно
    круто класс отлично супер норм ну ой ах хах хаха ахах вау аналогично взаимно и тоже
"""
_PHATIC_WORDS = frozenset(_PHATIC.split())


def says_nothing_to_remember(text: str) -> bool:
    """Whether a user message is only greetings, thanks or acknowledgements (or no words)."""
    return all(word in _PHATIC_WORDS for word in re.findall(r"[^\W\d_]+", text.lower()))


def extraction_schema(max_facts: int = MAX_FACTS_PER_PASS, messages: int = 99) -> dict[str, Any]:
    """The answer's JSON schema for `messages` numbered messages and at most `max_facts`."""
    return {
        "type": "object",
        "properties": {
            "facts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "minLength": 3, "maxLength": MAX_FACT_CHARS},
                        "category": {"type": "string", "enum": [c.value for c in FactCategory]},
                        "importance": {"type": "integer", "minimum": 1, "maximum": 5},
                        # Every field bounded: the local backend decodes this schema as a
                        # grammar, and a small model inside an unbounded string or list runs
                        # on until max_tokens (then nothing parses).
                        # An ISO date, or words like "the day after tomorrow".
                        "when": {"type": ["string", "null"], "maxLength": 24},
                        "sources": {
                            "type": "array",
                            "items": {"type": "integer", "minimum": 1, "maximum": messages},
                            "maxItems": min(8, messages),
                        },
                    },
                    "required": ["text", "category", "importance", "when", "sources"],
                    "additionalProperties": False,
                },
                "maxItems": max_facts,
            }
        },
        "required": ["facts"],
        "additionalProperties": False,
    }


EXTRACTION_SCHEMA = extraction_schema()


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class ExtractedItem(BaseModel):
    """One fact as the model wrote it; lenient where a small slip does not matter."""

    text: str = Field(min_length=3, max_length=MAX_FACT_CHARS)
    category: FactCategory = FactCategory.OTHER
    importance: int = 3
    when: str | None = None
    sources: list[int] = Field(default_factory=list)

    @field_validator("text")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 3:
            raise ValueError("too short")
        return value

    @field_validator("category", mode="before")
    @classmethod
    def _known_category(cls, value: object) -> object:
        if isinstance(value, str) and value.lower() in FactCategory._value2member_map_:
            return value.lower()
        return FactCategory.OTHER.value

    @field_validator("importance", mode="before")
    @classmethod
    def _clamp(cls, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return 3
        try:
            number = int(float(value))
        except ValueError:
            return 3
        return min(5, max(1, number))


@dataclass(frozen=True)
class CandidateFact:
    """A fact the model found, resolved against the messages it came from."""

    text: str
    category: FactCategory
    importance: int
    refers_to: date | None
    source_message_ids: list[str] = field(default_factory=list)


class ExtractionOutputError(ValueError):
    """The model's answer was not JSON of the expected shape."""


def parse_items(raw: str) -> tuple[list[ExtractedItem], int]:
    """Valid items of a model answer and how many items were invalid.

    Raises `ExtractionOutputError` when the answer is not a JSON object with a "facts" list.
    """
    text = raw.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ExtractionOutputError("no JSON object in the answer")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ExtractionOutputError(f"invalid JSON: {exc.msg}") from exc
    items = data.get("facts") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ExtractionOutputError('the answer has no "facts" list')
    valid: list[ExtractedItem] = []
    invalid = 0
    for item in items:
        try:
            valid.append(ExtractedItem.model_validate(item))
        except ValidationError:
            invalid += 1
    return valid, invalid


class FactExtractor:
    """Asks the chat model for facts about the user in a batch of messages."""

    def __init__(
        self,
        chat_model: ChatModel,
        *,
        prompts_dir: Path | None = None,
        max_tokens: int = 768,
        temperature: float = 0.0,
    ) -> None:
        self._model = chat_model
        self._env = prompt_templates(prompts_dir)
        self._sampling = SamplingParams(temperature=temperature, max_tokens=max_tokens)
        self.dropped_outputs = 0  # answers dropped after the retry (for metrics and tests)

    def render(self, messages: Sequence[Message], *, persona_name: str, language: str) -> str:
        reference = messages[-1].created_at
        return self._env.get_template("memory/extract.j2").render(
            persona_name=persona_name,
            language_name=LANGUAGE_NAMES.get(language, "the user's language"),
            message_date=reference.date().isoformat(),
            weekday=reference.strftime("%A"),
            messages=[
                {
                    "n": n,
                    "role": "user" if message.role is MessageRole.USER else "persona",
                    "text": message.text
                    if message.role is MessageRole.USER
                    else _shorten(message.text, MAX_PERSONA_LINE_CHARS),
                }
                for n, message in enumerate(messages, start=1)
            ],
        )

    async def extract(
        self, messages: Sequence[Message], *, persona_name: str, language: str
    ) -> list[CandidateFact]:
        """Facts about the user in `messages` (oldest first); [] when there are none."""
        if not any(
            message.role is MessageRole.USER and not says_nothing_to_remember(message.text)
            for message in messages
        ):
            return []  # no user message, or only greetings and thanks: no model call
        user_messages = sum(message.role is MessageRole.USER for message in messages)
        max_facts = min(MAX_FACTS_PER_PASS, FACTS_PER_USER_MESSAGE * user_messages)
        request = ChatRequest(
            messages=[
                ChatMessage(
                    role=Role.USER,
                    content=self.render(messages, persona_name=persona_name, language=language),
                )
            ],
            sampling=self._sampling,
            json_schema=extraction_schema(max_facts, len(messages)),
            schema_name="memory_facts",
        )
        items: list[ExtractedItem] | None = None
        for attempt in (1, 2):
            try:
                raw = await self._model.complete(request)
            except LLMError as exc:
                log.warning("fact extraction failed: %s", exc)
                return []
            try:
                items, invalid = parse_items(raw)
            except ExtractionOutputError as exc:
                log.warning("fact extraction answer rejected (attempt %d): %s", attempt, exc)
                continue
            if invalid:
                log.info("fact extraction: kept %d items, dropped %d invalid", len(items), invalid)
            break
        if items is None:
            self.dropped_outputs += 1
            log.warning("fact extraction dropped: no valid answer after a retry")
            return []
        return self._resolve(items, messages)

    def _resolve(
        self, items: Sequence[ExtractedItem], messages: Sequence[Message]
    ) -> list[CandidateFact]:
        user_numbers = {
            n: message
            for n, message in enumerate(messages, start=1)
            if message.role is MessageRole.USER
        }
        facts: list[CandidateFact] = []
        seen: set[str] = set()
        for item in items:
            if item.sources:
                sources = [user_numbers[n] for n in item.sources if n in user_numbers]
                if not sources:
                    log.info("fact extraction: dropped a fact taken from the persona's lines")
                    continue
            else:
                sources = list(user_numbers.values())
            key = item.text.lower()
            if key in seen:
                continue
            seen.add(key)
            reference = sources[-1].created_at.date()
            facts.append(
                CandidateFact(
                    text=item.text,
                    category=item.category,
                    importance=item.importance,
                    refers_to=resolve_date(item.when, reference),
                    source_message_ids=[message.id for message in sources],
                )
            )
        return facts
