"""Chatting: streamed replies (drafts, edits), splitting, escaping, photos, failures, floods."""

from __future__ import annotations

import asyncio
import itertools

from companion.domain.models import MessageRole, MessageStatus
from tests.e2e.bot.conftest import BotHarness
from tests.emulators.telegram import TelegramUser
from tests.emulators.telegram.html import utf16_len

REPLY = (
    "Oh, that sounds like a lovely day! Tell me more about the walk. "
    "Did you see the river? I always liked the bridges there, especially at dusk. "
    "What did you have for dinner afterwards?"
)


async def ready_user(harness: BotHarness, user_id: int, persona: str = "mark") -> TelegramUser:
    user = harness.user(user_id)
    await harness.onboard(user)
    await harness.choose(user, persona)
    user.skip()
    return user


async def stored_turns(
    harness: BotHarness, user_id: int, persona: str
) -> list[tuple[str, str, str]]:
    conversation = await harness.container.conversations.get_active(user_id, persona)
    assert conversation is not None
    cursor = harness.db["messages"].find({"conversation_id": conversation.id}).sort("seq", 1)
    ids = [doc["_id"] async for doc in cursor]
    turns = []
    for message_id in ids:
        doc = await harness.db["messages"].find_one({"_id": message_id})
        turns.append((doc["role"], doc["status"], doc["seq"]))
    return turns


async def test_reply_streams_as_drafts_then_one_final_message(harness: BotHarness) -> None:
    user = await ready_user(harness, 3001)
    harness.llm.reply = REPLY
    harness.llm.token_delay_s = 0.03
    await user.say("I went for a long walk today.")
    await user.expect("sendChatAction")
    final = await user.expect("sendMessage", contains="dinner afterwards?")
    assert final.text == REPLY
    drafts = user.calls("sendMessageDraft")
    assert len(drafts) >= 2, "the reply should be shown while it is generated"
    assert len({d.params["draft_id"] for d in drafts}) == 1
    texts = [d.text or "" for d in drafts]
    assert all(REPLY.startswith(t) for t in texts)
    assert len(texts[0]) < len(texts[-1])
    assert all(d.at < final.at for d in drafts)
    assert user.calls("editMessageText") == []
    await user.idle()
    assert len(user.calls("sendMessage")) == 1

    conversation = await harness.container.conversations.get_active(3001, "mark")
    assert conversation is not None
    recent = await harness.container.messages.recent(conversation.id, 10)
    assert [m.role for m in recent[-2:]] == [MessageRole.USER, MessageRole.ASSISTANT]
    assert recent[-1].text == REPLY and recent[-2].text == "I went for a long walk today."


async def test_model_markup_is_escaped(harness: BotHarness) -> None:
    user = await ready_user(harness, 3002)
    tricky = "Use <b>bold</b> & <script>alert(1)</script> or *stars* and a_b <3"
    harness.llm.reply = tricky
    await user.say("Show me some markup")
    final = await user.expect("sendMessage", contains="stars")
    assert final.text == tricky
    assert final.ok


async def test_long_reply_is_split_at_sentences(harness: BotHarness) -> None:
    user = await ready_user(harness, 3003)
    sentence = "This is sentence number {} of a very long and thoughtful answer. "
    long_reply = "".join(sentence.format(i) for i in range(160)).strip()  # ~10 500 chars
    assert len(long_reply) > 2 * 4096
    harness.llm.reply = long_reply
    await user.say("Tell me everything")
    await user.expect("sendMessage", contains="number 159 of")
    await user.idle()
    parts = [c.text or "" for c in user.calls("sendMessage") if c.ok]
    assert len(parts) >= 3
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert all(p.endswith("answer.") for p in parts)
    assert " ".join(parts) == long_reply
    assert not [c for c in user.calls() if not c.ok]


async def test_llm_failure_mid_stream_apologises_and_stores_no_reply(harness: BotHarness) -> None:
    user = await ready_user(harness, 3004)
    harness.llm.reply = REPLY
    harness.llm.token_delay_s = 0.02
    harness.llm.drop_after_chunks = 8
    await user.say("How are you?")
    await user.expect("sendMessage", contains="couldn't finish")
    await user.idle()
    assert not any("dinner" in (c.text or "") for c in user.calls("sendMessage"))
    turns = await stored_turns(harness, 3004, "mark")
    # greeting (complete), the user's message (complete), the partial reply (interrupted).
    assert [(role, status) for role, status, _ in turns] == [
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", MessageStatus.INTERRUPTED.value),
    ]

    # The next message works again and does not see the partial text as history.
    harness.llm.drop_after_chunks = None
    harness.llm.reply = "All good now."
    await user.say("Still there?")
    await user.expect("sendMessage", contains="All good now.")
    history = harness.llm.chat_requests[-1]["messages"]
    assert not any("Oh, that sounds" in str(m.get("content")) for m in history)


async def test_edit_streaming_when_drafts_are_unavailable(harness: BotHarness) -> None:
    harness.tg.drafts_supported = False
    user = await ready_user(harness, 3005)
    harness.llm.reply = REPLY
    harness.llm.token_delay_s = 0.05  # ~1.5 s of generation
    await user.say("Tell me a story")
    preview = await user.expect("sendMessage")
    # The last preview may already hold the whole text (with the cursor): wait for the final.
    final = await user.expect("editMessageText", where=lambda call: call.text == REPLY)
    assert final.text == REPLY and final.params["message_id"] == preview.result["message_id"]
    edits = [c for c in user.calls("editMessageText") if c.ok]
    # At most about one edit per second in the chat.
    times = [preview.at] + [c.at for c in edits]
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times)), times
    assert len(user.calls("sendMessage")) == 1  # the preview became the final message
    assert harness.dp.workflow_data["streaming_policy"].drafts_available is False
    await user.idle()
    assert user.history()[-1]["text"] == REPLY


async def test_edit_streaming_honours_retry_after(harness: BotHarness) -> None:
    harness.settings.telegram.use_drafts = False
    harness.dp.workflow_data["streaming_policy"].use_drafts = False
    user = await ready_user(harness, 3006)
    harness.llm.reply = REPLY
    harness.llm.token_delay_s = 0.08  # ~2.6 s
    harness.tg.fail_next("editMessageText", retry_after=2, chat_id=user.id)
    await user.say("Tell me a story")
    # The final edit comes up to edit_interval_s after the last preview, which may already
    # show the whole text with the cursor: wait for the final text itself.
    await user.expect("editMessageText", where=lambda call: call.text == REPLY)
    await user.idle()
    edits = user.calls("editMessageText")
    refused = [c for c in edits if c.error_code == 429]
    assert len(refused) == 1
    after = [c for c in edits if c.at > refused[0].at]
    assert after, "the reply must still be finished"
    assert after[0].at - refused[0].at >= 1.95
    assert user.history()[-1]["text"] == REPLY


async def test_photo_request_sends_a_gallery_photo(harness: BotHarness) -> None:
    user = await ready_user(harness, 3007, persona="anna")
    harness.llm.reply = "Here you go, this is me at the sea."
    await user.say("Send me a photo from the beach please")
    await user.expect("sendMessage", contains="this is me at the sea")
    photo = await user.expect("sendPhoto")
    assert photo.text == "At the beach"
    # The library card uploaded this image already: the bot re-sends it by file_id.
    file_id = photo.result["photo"][-1]["file_id"]
    beach = harness.settings.personas.directory / "anna-beach.png"  # type: ignore[operator]
    assert harness.tg.files[file_id].data == beach.read_bytes()
    assert photo.upload("photo") is None


async def test_flood_gets_one_notice(harness: BotHarness) -> None:
    user = await ready_user(harness, 3008)
    harness.llm.reply = "Ok."
    limit = harness.settings.telegram.throttle_messages
    requests_before = len(harness.llm.chat_requests)
    for number in range(limit + 7):
        await user.say(f"message {number}")
    await user.expect("sendMessage", contains="writing very fast")
    await user.idle(quiet_s=1.0, timeout=60)
    notices = [c for c in user.calls("sendMessage") if "writing very fast" in (c.text or "")]
    assert len(notices) == 1
    assert len(harness.llm.chat_requests) - requests_before <= limit


async def test_unsupported_input_gets_short_answers_or_silence(harness: BotHarness) -> None:
    harness.dp.workflow_data["throttle"].limit = 100  # this test sends many messages quickly
    user = await ready_user(harness, 3009)
    await user.send_sticker()
    await user.expect("sendMessage", contains="sticker")
    await user.send_document(b"%PDF-1.4 ...", file_name="cv.pdf")
    await user.expect("sendMessage", contains="can't read files")
    await user.send_location()
    await user.expect("sendMessage", contains="locations")
    await user.send_poll()
    await user.expect("sendMessage", contains="polls")
    await user.command("nosuchcommand")
    await user.expect("sendMessage", contains="/help")
    messages_before = await harness.db["messages"].count_documents({"user_id": user.id})
    await user.say("word " * 1000)  # 5000 characters: more than a message may hold
    await user.expect("sendMessage", contains="too long")
    assert await harness.db["messages"].count_documents({"user_id": user.id}) == messages_before
    sent = await user.say("typo")
    await user.expect("sendMessage")  # the reply to "typo"
    await user.idle()
    user.skip()
    await user.edit(sent, "typo fixed")
    group = harness.tg.register_group(-100777, "Friends")
    await user.say_in_group(group, "just chatting with friends")
    await asyncio.sleep(0.5)
    await user.idle()
    assert user.calls() == []
    assert harness.tg.calls_for(group["id"]) == []
    await user.say_in_group(group, "hi bot", mention_bot=True)
    _, reply = await harness.tg.wait_for(lambda c: c.chat_id == group["id"])
    assert "private" in (reply.text or "")
    assert harness.tg.calls_for(group["id"], "sendMessageDraft") == []


async def test_long_reply_in_edit_mode_fills_messages_in_turn(harness: BotHarness) -> None:
    harness.tg.drafts_supported = False
    user = await ready_user(harness, 3010)
    sentence = "Edit mode keeps every sentence of this long reply number {} intact. "
    long_reply = "".join(sentence.format(i) for i in range(130)).strip()
    harness.llm.reply = long_reply
    harness.llm.token_delay_s = 0.002
    await user.say("Tell me everything, slowly")
    await user.expect(("sendMessage", "editMessageText"), contains="reply number 129 intact.")
    await user.idle(quiet_s=1.5)
    shown = [m["text"] for m in user.history()[-5:] if "Edit mode keeps" in m.get("text", "")]
    assert len(shown) >= 2
    assert all(utf16_len(text) <= 4096 for text in shown)
    assert " ".join(shown) == long_reply
    assert not any("▍" in text for text in shown)


async def test_button_flood_is_answered_but_not_acted_on(harness: BotHarness) -> None:
    user = harness.user(3011)
    await harness.onboard(user)
    user.skip()
    limit = 2 * harness.settings.telegram.throttle_messages
    presses = [await user.press(text="▶") for _ in range(limit + 6)]
    await user.idle(quiet_s=1.0)
    turned = [c for c in user.calls("editMessageMedia") if c.ok]
    assert len(turned) <= limit
    answers = [harness.tg.answered_callbacks.get(query_id) for query_id in presses]
    assert all(answer is not None for answer in answers)  # no spinning buttons
    assert any("writing very fast" in str(answer.get("text")) for answer in answers if answer)
