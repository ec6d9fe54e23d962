"""DialogService end to end over real storage and an OpenAI-compatible HTTP server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from companion.dialogs.events import (
    AccessDeniedError,
    InvalidMessageError,
    Notice,
    NoticeKind,
    ReplyDone,
    ReplyFailedError,
    TextDelta,
    UnknownPersonaError,
)
from companion.dialogs.service import DialogLimits
from companion.domain.models import MessageRole, MessageSource, MessageStatus
from companion.domain.ports import AccessDecision
from tests.integration.dialogs.conftest import Harness, build_harness


async def collect(stream: Any) -> list[Any]:
    return [event async for event in stream]


async def all_messages(h: Harness, user_id: int) -> list[Any]:
    return await h.messages.for_user(user_id)


async def test_reply_streams_and_stores_both_turns(harness: Harness) -> None:
    harness.emulator.reply = "Oh, that sounds like a lovely evening. Tell me more?"
    user = await harness.user()
    await harness.service.start(user, "anna")
    events = await collect(harness.service.reply(user, "anna", "I went to the theatre"))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3  # streamed, not one block
    assert "".join(deltas) == "Oh, that sounds like a lovely evening. Tell me more?"
    done = events[-1]
    assert isinstance(done, ReplyDone)

    conversation = await harness.conversations.get_active(user.id, "anna")
    assert conversation is not None
    history = await harness.messages.recent(conversation.id, 10)
    assert [(m.role, m.text) for m in history][-2:] == [
        (MessageRole.USER, "I went to the theatre"),
        (MessageRole.ASSISTANT, "Oh, that sounds like a lovely evening. Tell me more?"),
    ]
    assert history[0].source is MessageSource.SYSTEM  # the greeting
    assert [m.seq for m in history] == sorted(m.seq for m in history)
    assert done.message_id == history[-1].id

    body = harness.emulator.chat_requests[-1]
    assert body["model"] == harness.emulator.base_model
    assert body["messages"][0]["role"] == "system"
    assert "You are Anna." in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": "I went to the theatre"}


async def test_history_and_adapter_reach_the_model(harness: Harness) -> None:
    user = await harness.user()
    harness.emulator.reply = "First answer."
    await collect(harness.service.reply(user, "tom", "first message"))
    harness.emulator.reply = "Second answer."
    await collect(harness.service.reply(user, "tom", "second message"))
    body = harness.emulator.chat_requests[-1]
    assert body["model"] == "kylie-lora"  # the persona's LoRA adapter is the model name
    contents = [m["content"] for m in body["messages"][1:]]
    assert contents == ["first message", "First answer.", "second message"]


@pytest.mark.parametrize("text", ["", "   \n ", "x" * 100_000])
async def test_bad_message_is_refused_and_nothing_is_stored(harness: Harness, text: str) -> None:
    user = await harness.user()
    with pytest.raises(InvalidMessageError) as info:
        await collect(harness.service.reply(user, "anna", text))
    assert info.value.reason == ("too_long" if text.strip() else "empty")
    assert await all_messages(harness, user.id) == []
    assert harness.emulator.chat_requests == []


async def test_unknown_persona(harness: Harness) -> None:
    user = await harness.user()
    with pytest.raises(UnknownPersonaError):
        await collect(harness.service.reply(user, "nobody", "hi"))
    with pytest.raises(UnknownPersonaError):
        await harness.service.start(user, "nobody")
    assert await all_messages(harness, user.id) == []


async def test_unreachable_model_leaves_nothing_half_written(harness: Harness) -> None:
    user = await harness.user()
    await harness.emulator.stop()
    with pytest.raises(ReplyFailedError):
        await collect(harness.service.reply(user, "tom", "hello?"))
    assert await all_messages(harness, user.id) == []


async def test_failure_mid_stream_keeps_partial_out_of_history(harness: Harness) -> None:
    user = await harness.user()
    harness.emulator.reply = "one two three four five six seven eight nine ten"
    harness.emulator.drop_after_chunks = 3
    received: list[str] = []
    with pytest.raises(ReplyFailedError):
        async for event in harness.service.reply(user, "tom", "tell me a story"):
            if isinstance(event, TextDelta):
                received.append(event.text)
    assert received  # the user saw the start of the reply
    stored = await all_messages(harness, user.id)
    assert [(m.role, m.status) for m in stored] == [
        (MessageRole.USER, MessageStatus.COMPLETE),
        (MessageRole.ASSISTANT, MessageStatus.INTERRUPTED),
    ]
    conversation = await harness.conversations.get_active(user.id, "tom")
    assert conversation is not None
    history = await harness.messages.recent(conversation.id, 10)
    assert [m.role for m in history] == [MessageRole.USER]  # the partial is not a reply


async def test_a_turn_left_unanswered_by_a_dead_attempt_is_answered_once(
    harness: Harness,
) -> None:
    """A worker died mid-reply after storing the user's message (companion/bot/delivery.py
    hands the update to another worker): the retry answers that message, it does not store
    it again, and the model sees it once."""
    user = await harness.user()
    harness.emulator.reply = "one two three four five six seven eight nine ten"
    stream = harness.service.reply(user, "tom", "tell me a story")
    async for event in stream:
        if isinstance(event, TextDelta):
            break  # the worker is gone: nothing after the first words runs
    await stream.aclose()
    await harness.messages.flush()
    assert [m.role for m in await all_messages(harness, user.id)] == [MessageRole.USER]

    harness.emulator.reply = "Once upon a time."
    events = await collect(harness.service.reply(user, "tom", "tell me a story"))
    assert isinstance(events[-1], ReplyDone)
    stored = await all_messages(harness, user.id)
    assert [(m.role, m.text, m.status) for m in stored] == [
        (MessageRole.USER, "tell me a story", MessageStatus.COMPLETE),
        (MessageRole.ASSISTANT, "Once upon a time.", MessageStatus.COMPLETE),
    ]
    assert stored[1].seq == stored[0].seq + 1
    contents = [m["content"] for m in harness.emulator.chat_requests[-1]["messages"][1:]]
    assert contents == ["tell me a story"]

    # A different message after an unanswered one is a turn of its own.
    stream = harness.service.reply(user, "tom", "and another")
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    harness.emulator.reply = "Sure."
    await collect(harness.service.reply(user, "tom", "something else"))
    texts = [m.text for m in await all_messages(harness, user.id)]
    assert texts[-3:] == ["and another", "something else", "Sure."]


async def test_messages_of_one_user_are_answered_in_order(harness: Harness) -> None:
    user = await harness.user()
    harness.emulator.token_delay_s = 0.01
    harness.emulator.reply = lambda body: f"answer to {body['messages'][-1]['content']}"

    async def send(text: str) -> str:
        events = await collect(harness.service.reply(user, "tom", text))
        return str(events[-1].text)

    first = asyncio.create_task(send("A"))
    await asyncio.sleep(0.005)
    second = asyncio.create_task(send("B"))
    assert await first == "answer to A"
    assert await second == "answer to B"
    # The second request was built after the first reply was stored.
    second_body = harness.emulator.chat_requests[1]
    assert [m["content"] for m in second_body["messages"][1:]] == ["A", "answer to A", "B"]


async def test_crisis_message_gets_hotlines_instead_of_role_play(harness: Harness) -> None:
    user = await harness.user(language="ru")
    events = await collect(harness.service.reply(user, "tom", "я больше не хочу жить"))
    assert harness.emulator.chat_requests == []  # no role-play generation
    notice = next(e for e in events if isinstance(e, Notice))
    assert notice.kind is NoticeKind.CRISIS
    done = events[-1]
    assert isinstance(done, ReplyDone)
    assert "8-800-2000-122" in done.text
    stored = await all_messages(harness, user.id)
    assert stored[-1].meta.get("crisis") is True
    assert await harness.events.has_event(user.id, "crisis")


async def test_support_disclaimer_is_shown_once(harness: Harness) -> None:
    user = await harness.user()
    started = await harness.service.start(user, "anna")
    assert [n.kind for n in started.notices] == [NoticeKind.SUPPORT_DISCLAIMER]
    events = await collect(harness.service.reply(user, "anna", "hi"))
    assert not any(isinstance(e, Notice) for e in events)
    fresh = await harness.users.get(user.id)
    assert fresh is not None and fresh.support_disclaimer_shown_at is not None
    again = await harness.service.start(fresh, "anna", fresh=True)
    assert again.notices == []


async def test_pro_persona_needs_pro_and_adult_confirmation(harness: Harness) -> None:
    user = await harness.user()
    with pytest.raises(AccessDeniedError) as info:
        await collect(harness.service.reply(user, "kylie", "hi"))
    assert info.value.decision is AccessDecision.NEEDS_PRO
    harness.entitlements.pro_users.add(user.id)
    with pytest.raises(AccessDeniedError) as info:
        await harness.service.start(user, "kylie")
    assert info.value.decision is AccessDecision.NEEDS_ADULT_CONFIRMATION
    assert await all_messages(harness, user.id) == []

    from datetime import UTC, datetime

    adult = await harness.user(adult_confirmed_at=datetime.now(UTC))
    events = await collect(harness.service.reply(adult, "kylie", "hi"))
    assert isinstance(events[-1], ReplyDone)


async def test_reset_starts_a_new_conversation(harness: Harness) -> None:
    user = await harness.user()
    first = await harness.service.start(user, "tom")
    await collect(harness.service.reply(user, "tom", "remember this"))
    resumed = await harness.service.start(user, "tom")
    assert resumed.resumed and resumed.conversation.id == first.conversation.id
    assert resumed.greeting is None
    reset = await harness.service.start(user, "tom", fresh=True)
    assert not reset.resumed and reset.conversation.id != first.conversation.id
    assert reset.greeting
    await collect(harness.service.reply(user, "tom", "new start"))
    body = harness.emulator.chat_requests[-1]
    assert "remember this" not in str(body["messages"])


async def test_old_turns_are_folded_into_the_summary(mongo_db: Any, openai_emulator: Any) -> None:
    h = build_harness(
        mongo_db,
        openai_emulator,
        DialogLimits(history_token_budget=60, summary_batch=4, context_window=4096),
    )
    user = await h.user()

    def answer(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if "running summary" in body["messages"][0]["content"] or "Updated summary" in prompt:
            return "The user told a long story about sailing with their brother Ivan."
        return "Nice, go on please."

    h.emulator.reply = answer
    for i in range(12):
        await collect(h.service.reply(user, "tom", f"part {i} of my sailing story with Ivan"))
    await h.service.drain()
    conversation = await h.conversations.get_active(user.id, "tom")
    assert conversation is not None
    assert "Ivan" in conversation.summary
    assert conversation.summary_upto_seq > 0
    await collect(h.service.reply(user, "tom", "what do you remember?"))
    system = h.emulator.chat_requests[-1]["messages"][0]["content"]
    assert "sailing with their brother Ivan" in system


async def test_photo_marker_is_hidden_and_a_fitting_photo_is_sent(harness: Harness) -> None:
    from companion.dialogs.events import PhotoToSend
    from companion.domain.personas import GalleryImage
    from tests.unit.dialogs.persona_factory import make_persona

    gallery = [
        GalleryImage(
            file="beach.png",
            caption={"en": "On the beach", "ru": "На пляже"},
            tags=["beach", "sea"],
        ),
        GalleryImage(
            file="cafe.png", caption={"en": "In a cafe", "ru": "В кафе"}, tags=["cafe", "coffee"]
        ),
    ]
    harness.catalog.personas["lena"] = make_persona(id="lena", gallery=gallery)
    user = await harness.user()
    harness.emulator.reply = "Here I am by the sea! [photo: beach sea] Do you like it?"
    events = await collect(harness.service.reply(user, "lena", "what are you doing?"))
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "[photo" not in shown and "by the sea" in shown and "like it?" in shown
    photo = next(e for e in events if isinstance(e, PhotoToSend))
    assert photo.image.file == "beach.png" and photo.caption == "On the beach"
    done = events[-1]
    assert isinstance(done, ReplyDone) and "[photo" not in done.text

    # Asked again right away: never the same photo twice in a row.
    harness.emulator.reply = "Another one for you."
    events = await collect(harness.service.reply(user, "lena", "send me a photo from the beach"))
    photo = next(e for e in events if isinstance(e, PhotoToSend))
    assert photo.image.file == "cafe.png"
