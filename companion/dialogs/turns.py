"""Storing the user's side of a turn, and finding one a previous attempt left unanswered.

A worker that dies mid-reply (companion/bot/delivery.py hands the update to another worker)
may already have stored the user's message, at the first chunk of the model's stream, with
the seq after it kept for the reply. The retry must not store it a second time (the history
and the prompt would show it twice): it answers that stored message instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from companion.domain.models import Conversation, Message, MessageRole, MessageSource
from companion.domain.ports import MessageStore


def unanswered_turn(history: Sequence[Message], text: str) -> tuple[list[Message], Message | None]:
    """(the history without it, the message) when the history ends with the user saying
    `text` and nothing after it; else (the history, None).

    Nothing but a reply that never got stored leaves a user's message last: a reply that
    fails part-way stores what was said, marked interrupted, and a model that says nothing
    leaves nothing stored. If the person writes the very same words again because no answer
    came, answering the stored message once is right too.
    """
    last = history[-1] if history else None
    if last is not None and last.role is MessageRole.USER and last.text == text:
        return list(history[:-1]), last
    return list(history), None


async def start_turn(
    messages: MessageStore,
    conversation: Conversation,
    text: str,
    source: MessageSource,
    unanswered: Message | None,
) -> Message:
    """The user's message of this turn, stored with two seqs claimed at once: its own and the
    next one, kept for the reply (or the interrupted part of it), which then needs no claim of
    its own. Called under the user's lock, so nothing else of this user's lands in between.
    An `unanswered` one (see `unanswered_turn`) is the turn already: its next seq is free."""
    if unanswered is not None:
        return unanswered
    first = await messages.reserve(conversation, 2)
    return await messages.append(conversation, MessageRole.USER, text, source=source, seq=first)
