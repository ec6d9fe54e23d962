"""One training example: a chat with the roles the chat template knows."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class Turn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    role: Role
    content: str


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[Turn] = Field(min_length=2)
    source: str
    language: str = "und"
    persona_id: str | None = None

    def chat(self) -> list[dict[str, str]]:
        """The messages as chat-template input."""
        return [{"role": turn.role.value, "content": turn.content} for turn in self.messages]

    def dialogue_text(self) -> str:
        """User and assistant text only, for language tagging and deduplication."""
        return "\n".join(turn.content for turn in self.messages if turn.role is not Role.SYSTEM)


class InvalidConversationError(ValueError):
    """A record that is not a usable chat; the message is the reason counted in the manifest."""


def clean_conversation(turns: list[Turn]) -> list[Turn]:
    """Normalise a conversation to what training needs, or raise InvalidConversationError.

    An optional system turn first, then user/assistant turns strictly alternating, starting
    with the user and ending with the assistant (trailing user turns are dropped: they teach
    nothing when only assistant tokens carry loss).
    """
    turns = [Turn(role=t.role, content=t.content.strip()) for t in turns]
    if any(not t.content for t in turns):
        raise InvalidConversationError("empty turn")
    system = [t for t in turns[:1] if t.role is Role.SYSTEM]
    body = turns[len(system) :]
    if any(t.role is Role.SYSTEM for t in body):
        raise InvalidConversationError("system turn after the start")
    while body and body[-1].role is not Role.ASSISTANT:
        body = body[:-1]
    if not body or body[0].role is not Role.USER:
        raise InvalidConversationError("does not start with a user turn")
    for index, turn in enumerate(body):
        expected = Role.USER if index % 2 == 0 else Role.ASSISTANT
        if turn.role is not expected:
            raise InvalidConversationError("roles do not alternate")
    return system + body
