from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from companion.domain.models import (
    Conversation,
    Event,
    MessageRole,
    MessageSource,
    MessageStatus,
    Subscription,
    SubscriptionStatus,
    User,
    UserSettings,
)
from companion.domain.ports import ConversationStore, EventSink, MessageStore, UserStore
from companion.storage import collections as c
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import AesGcmCipher, PlaintextCipher
from companion.storage.events import EventRepository
from companion.storage.messages import (
    _TOUCH_EVERY_SEQS,
    ConversationNotFoundError,
    MessageRepository,
    UnstorableMessageError,
    seq_window,
)
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.users import UserRepository

Db = AsyncDatabase[Any]


async def test_user_round_trip_and_updates(db: Db) -> None:
    users = UserRepository(db)
    assert await users.get(7) is None
    assert await users.update(7, language="en") is None  # update never creates
    assert await users.get(7) is None

    stored = await users.upsert(User(id=7, first_name="Анна", username="anna"))
    assert (await users.get(7)) == stored

    consent = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    updated = await users.update(
        7, language="en", consent_at=consent, settings__echo_transcripts=True
    )
    assert updated is not None
    assert updated.language == "en"
    assert updated.consent_at == consent
    assert updated.settings.echo_transcripts is True
    assert updated.first_name == "Анна"  # untouched fields stay
    assert await users.get(7) == updated

    raw = await db[c.USERS].find_one({"_id": 7})
    # The whole settings sub-document is stored: the changed field and every other default.
    assert raw is not None and raw["settings"] == {
        **UserSettings().model_dump(),
        "echo_transcripts": True,
    }
    assert raw["settings"]["timezone"] is None and raw["settings"]["news"] is True

    with pytest.raises(ValueError, match="unknown field"):
        await users.update(7, favourite_colour="red")
    with pytest.raises(ValueError, match="invalid value"):
        await users.update(7, consent_at="yesterday")
    assert await users.get(7) == updated  # nothing half-written

    assert await users.delete(7) is True
    assert await users.delete(7) is False
    assert await users.get(7) is None


async def test_get_or_create_keeps_the_first_profile(db: Db) -> None:
    users = UserRepository(db)
    results = await asyncio.gather(
        *(users.get_or_create(User(id=9, first_name=f"n{i}")) for i in range(10))
    )
    assert sum(created for _, created in results) == 1
    names = {user.first_name for user, _ in results}
    assert len(names) == 1
    assert await db[c.USERS].count_documents({}) == 1


async def test_conversation_start_replaces_the_active_one(db: Db, cipher: AesGcmCipher) -> None:
    conversations = ConversationRepository(db, cipher)
    assert await conversations.get_active(1, "kylie") is None
    first = await conversations.start(1, "kylie")
    assert await conversations.get_active(1, "kylie") == first
    other_persona = await conversations.start(1, "mark")
    await asyncio.sleep(0.01)  # timestamps are stored at millisecond precision

    second = await conversations.start(1, "kylie")
    assert second.id != first.id
    active = await conversations.get_active(1, "kylie")
    assert active is not None and active.id == second.id
    old = await conversations.get(first.id)
    assert old is not None and old.active is False
    assert (await conversations.get_active(1, "mark")) == other_persona

    listed = await conversations.list_for_user(1)
    assert {conv.id for conv in listed} == {first.id, second.id, other_persona.id}
    assert [conv.id for conv in await conversations.list_for_user(1, persona_id="kylie")] == [
        second.id,
        first.id,
    ]
    # A late reply stored in the old conversation makes it the most recently active one
    # (`updated_at` is written behind; flush stands for the next ~50 ms).
    await asyncio.sleep(0.01)
    messages = MessageRepository(db, cipher)
    await messages.append(first, MessageRole.ASSISTANT, "late reply")
    await messages.flush()
    assert [conv.id for conv in await conversations.list_for_user(1, persona_id="kylie")] == [
        first.id,
        second.id,
    ]
    assert len(await conversations.list_for_user(1, limit=2)) == 2


async def test_racing_starts_leave_one_active_conversation(db: Db, cipher: AesGcmCipher) -> None:
    conversations = ConversationRepository(db, cipher)
    started = await asyncio.gather(*(conversations.start(2, "kylie") for _ in range(10)))
    active = await db[c.CONVERSATIONS].count_documents(
        {"user_id": 2, "persona_id": "kylie", "active": True}
    )
    assert active == 1
    current = await conversations.get_active(2, "kylie")
    assert current is not None and current.id in {conv.id for conv in started}


async def test_summary_is_encrypted_and_never_goes_backwards(db: Db, cipher: AesGcmCipher) -> None:
    conversations = ConversationRepository(db, cipher)
    conv = await conversations.start(3, "kylie")
    await conversations.save_summary(conv.id, "Они говорили о переезде в Казань", 10)
    await conversations.save_summary(conv.id, "older summary", 4)  # a late, stale writer
    stored = await conversations.get(conv.id)
    assert stored is not None
    assert stored.summary == "Они говорили о переезде в Казань"
    assert stored.summary_upto_seq == 10
    raw = await db[c.CONVERSATIONS].find_one({"_id": conv.id})
    assert raw is not None and isinstance(raw["summary"], bytes)
    assert "Казань".encode() not in raw["summary"]


async def test_concurrent_appends_get_unique_increasing_seqs(db: Db, cipher: AesGcmCipher) -> None:
    conv = await ConversationRepository(db, cipher).start(4, "kylie")
    messages = MessageRepository(db, cipher)
    appended = await asyncio.gather(
        *(messages.append(conv, MessageRole.USER, f"message {i}") for i in range(50))
    )
    assert sorted(m.seq for m in appended) == list(range(1, 51))
    stored = await messages.history(conv.id)
    assert [m.seq for m in stored] == list(range(1, 51))
    # The seq a message got is the one it is stored under, with its own text.
    by_seq = {m.seq: m.text for m in appended}
    assert {m.seq: m.text for m in stored} == by_seq
    assert await messages.count(conv.id) == 50
    # last_seq is written behind and now and then: never ahead, never far behind.
    await messages.flush()
    refreshed = await ConversationRepository(db, cipher).get(conv.id)
    assert refreshed is not None
    assert 50 - _TOUCH_EVERY_SEQS < refreshed.last_seq <= 50


async def test_appends_from_several_workers_never_share_a_seq(db: Db, cipher: AesGcmCipher) -> None:
    # Each worker process has its own repository and its own idea of the last seq; the unique
    # (conversation_id, seq) index keeps the numbers unique anyway: a taken proposal is retried.
    conv = await ConversationRepository(db, cipher).start(14, "kylie")
    workers = [MessageRepository(db, cipher) for _ in range(3)]
    appended = await asyncio.gather(
        *(
            workers[i % 3].append(conv, MessageRole.USER, f"message {i}", status=status)
            for i in range(30)
            for status in [MessageStatus.COMPLETE if i % 5 else MessageStatus.INTERRUPTED]
        )
    )
    assert sorted(m.seq for m in appended) == list(range(1, 31))
    stored_texts = {m.seq: m.text for m in await workers[0].history(conv.id)}
    assert stored_texts == {m.seq: m.text for m in appended}
    for worker in workers:
        await worker.flush()
    stored = await ConversationRepository(db, cipher).get(conv.id)
    assert stored is not None and 30 - _TOUCH_EVERY_SEQS < stored.last_seq <= 30
    # A stale view of the conversation (last_seq 0) still gets the next number.
    assert conv.last_seq == 0
    assert (await workers[0].append(conv, MessageRole.ASSISTANT, "late")).seq == 31
    assert (await MessageRepository(db, cipher).append(conv, MessageRole.USER, "new")).seq == 32


async def test_reserved_seqs_are_kept_for_their_messages(db: Db, cipher: AesGcmCipher) -> None:
    conv = await ConversationRepository(db, cipher).start(18, "kylie")
    messages = MessageRepository(db, cipher)
    first = await messages.reserve(conv, 2)
    assert first == 1
    user = await messages.append(conv, MessageRole.USER, "hi", seq=first)
    # Meanwhile another append of this process gets a seq after the reserved pair...
    assert (await messages.append(conv, MessageRole.USER, "later")).seq == 3
    # ...and the reply lands on the seq kept for it, between the two.
    reply = await messages.append(conv, MessageRole.ASSISTANT, "hello", seq=user.seq + 1)
    assert [(m.seq, m.text) for m in await messages.history(conv.id)] == [
        (1, "hi"),
        (2, "hello"),
        (3, "later"),
    ]
    assert reply.seq == 2
    # A reservation that is never used is a gap, and numbering goes on after it.
    assert await messages.reserve(conv, 2) == 4
    assert (await messages.append(conv, MessageRole.USER, "next")).seq == 6
    with pytest.raises(ValueError):
        await messages.reserve(conv, 0)


async def test_a_reserved_seq_taken_by_another_worker_moves_on(
    db: Db, cipher: AesGcmCipher
) -> None:
    # Reserving writes nothing, so another worker (without the user's lock, which normally
    # serialises a conversation) can take the number; the message then gets the next free one.
    conv = await ConversationRepository(db, cipher).start(19, "kylie")
    messages, other_worker = MessageRepository(db, cipher), MessageRepository(db, cipher)
    first = await messages.reserve(conv, 2)
    user = await messages.append(conv, MessageRole.USER, "hi", seq=first)
    assert (await other_worker.append(conv, MessageRole.USER, "elsewhere")).seq == 2
    reply = await messages.append(conv, MessageRole.ASSISTANT, "hello", seq=user.seq + 1)
    assert reply.seq == 3
    assert [(m.seq, m.text) for m in await messages.history(conv.id)] == [
        (1, "hi"),
        (2, "elsewhere"),
        (3, "hello"),
    ]


async def test_appends_share_insert_commands_under_load(db: Db, cipher: AesGcmCipher) -> None:
    conv = await ConversationRepository(db, cipher).start(20, "kylie")
    messages = MessageRepository(db, cipher)
    inserts: list[int] = []
    collection = messages._messages
    original = collection.insert_many

    async def counting_insert_many(documents: Any, *args: Any, **kwargs: Any) -> Any:
        inserts.append(len(documents))
        return await original(documents, *args, **kwargs)

    collection.insert_many = counting_insert_many  # type: ignore[method-assign]
    await asyncio.gather(*(messages.append(conv, MessageRole.USER, f"m{i}") for i in range(40)))
    assert sum(inserts) == 40
    assert len(inserts) < 40  # concurrent appends went out together
    assert [m.text for m in await messages.history(conv.id)] == [f"m{i}" for i in range(40)]


async def test_a_conversation_stored_without_last_seq_is_numbered_from_one(
    db: Db, cipher: AesGcmCipher
) -> None:
    conv = await ConversationRepository(db, cipher).start(15, "kylie")
    await db[c.CONVERSATIONS].update_one({"_id": conv.id}, {"$unset": {"last_seq": ""}})
    messages = MessageRepository(db, cipher)
    assert [(await messages.append(conv, MessageRole.USER, t)).seq for t in "ab"] == [1, 2]


async def test_a_taken_seq_in_an_erased_conversation_fails_cleanly(
    db: Db, cipher: AesGcmCipher
) -> None:
    conv = await ConversationRepository(db, cipher).start(16, "kylie")
    messages = MessageRepository(db, cipher)
    await messages.append(conv, MessageRole.USER, "first")
    await db[c.CONVERSATIONS].delete_one({"_id": conv.id})
    # A conflicting proposal makes the repository look: the conversation is gone.
    with pytest.raises(ConversationNotFoundError):
        await messages.append(conv, MessageRole.USER, "second", seq=1)
    assert await messages.count(conv.id) == 1


async def test_recent_can_start_from_a_last_seq_the_caller_read(
    db: Db, cipher: AesGcmCipher
) -> None:
    conversations = ConversationRepository(db, cipher)
    conv = await conversations.start(17, "kylie")
    messages = MessageRepository(db, cipher)
    for i in range(1, 6):
        await messages.append(conv, MessageRole.USER, f"m{i}")
    await messages.flush()
    current = await conversations.get_active(17, "kylie")
    # Touched at the first message only (see _TOUCH_EVERY_SEQS): reading starts there.
    assert current is not None and current.last_seq == 1
    recent = await messages.recent(conv.id, 3, last_seq=current.last_seq)
    assert [m.text for m in recent] == ["m3", "m4", "m5"]
    assert recent == await messages.recent(conv.id, 3)
    # A stale view (another worker stored more since) is only where reading starts.
    fresh = MessageRepository(db, cipher)
    assert [m.text for m in await fresh.recent(conv.id, 2, last_seq=3)] == ["m4", "m5"]
    assert [m.text for m in await fresh.recent(conv.id, 5, last_seq=0)] == [
        f"m{i}" for i in range(1, 6)
    ]


async def test_recent_returns_the_last_complete_messages_oldest_first(
    db: Db, cipher: AesGcmCipher
) -> None:
    conv = await ConversationRepository(db, cipher).start(5, "kylie")
    messages = MessageRepository(db, cipher)
    for i in range(1, 11):
        status = MessageStatus.INTERRUPTED if i in (8, 9) else MessageStatus.COMPLETE
        role = MessageRole.USER if i % 2 else MessageRole.ASSISTANT
        await messages.append(conv, role, f"m{i}", status=status)

    recent = await messages.recent(conv.id, 4)
    assert [m.text for m in recent] == ["m5", "m6", "m7", "m10"]
    assert all(m.status is MessageStatus.COMPLETE for m in recent)
    assert [m.text for m in await messages.recent(conv.id, 100)] == [
        f"m{i}" for i in (1, 2, 3, 4, 5, 6, 7, 10)
    ]
    assert [m.text for m in await messages.recent(conv.id, 3, after_seq=5)] == [
        "m6",
        "m7",
        "m10",
    ]
    assert [m.text for m in await messages.recent(conv.id, 10, after_seq=6)] == ["m7", "m10"]
    assert await messages.recent(conv.id, 0) == []
    assert await messages.recent("no-such-conversation", 5) == []
    assert len(await messages.history(conv.id)) == 10
    assert len(await messages.history(conv.id, complete_only=True)) == 8
    assert [m.seq for m in await messages.history(conv.id, after_seq=2, upto_seq=4)] == [3, 4]
    assert [m.seq for m in await messages.history(conv.id, after_seq=2, limit=3)] == [3, 4, 5]
    assert [
        m.seq for m in await messages.history(conv.id, after_seq=6, limit=2, complete_only=True)
    ] == [7, 10]


async def test_message_fields_round_trip(db: Db, cipher: AesGcmCipher) -> None:
    conv = await ConversationRepository(db, cipher).start(6, "mark")
    messages = MessageRepository(db, cipher)
    sent = await messages.append(
        conv,
        MessageRole.USER,
        "голосовое сообщение",
        source=MessageSource.VOICE,
        meta={"duration_s": 3.5, "telegram_message_id": 77},
    )
    got = await messages.get(sent.id)
    assert got == sent
    assert got is not None and got.created_at.tzinfo is not None
    assert await messages.for_user(6) == [sent]
    assert await messages.set_status(sent.id, MessageStatus.INTERRUPTED) is True
    assert await messages.recent(conv.id, 5) == []


async def test_append_to_a_missing_conversation_fails_and_stores_nothing(
    db: Db, cipher: AesGcmCipher
) -> None:
    messages = MessageRepository(db, cipher)
    ghost = Conversation(id="gone", user_id=1, persona_id="kylie")
    # Appends do not read the conversation first (that would cost every turn a round trip);
    # the conversation touch that follows finds none and removes what was stored.
    await messages.append(ghost, MessageRole.USER, "hello")
    await messages.flush()
    assert await db[c.MESSAGES].count_documents({}) == 0


async def test_stored_text_is_encrypted_at_rest(db: Db, cipher: AesGcmCipher) -> None:
    conv = await ConversationRepository(db, cipher).start(8, "kylie")
    secret = "my diagnosis is something private"
    message = await MessageRepository(db, cipher).append(conv, MessageRole.USER, secret)

    raw = await db[c.MESSAGES].find_one({"_id": message.id})
    assert raw is not None
    assert isinstance(raw["text"], bytes)
    assert secret.encode() not in raw["text"]
    assert secret not in repr(raw)
    # Another key cannot read it; the right key can.
    other = MessageRepository(db, AesGcmCipher(b"\x00" * 32))
    with pytest.raises(Exception, match="decrypt"):
        await other.get(message.id)
    assert (await MessageRepository(db, cipher).get(message.id)) == message


async def test_plaintext_written_before_the_key_still_reads(db: Db, cipher: AesGcmCipher) -> None:
    conversations = ConversationRepository(db, PlaintextCipher())
    conv = await conversations.start(9, "kylie")
    before = await MessageRepository(db, PlaintextCipher()).append(
        conv, MessageRole.USER, "written before encryption was on"
    )
    raw = await db[c.MESSAGES].find_one({"_id": before.id})
    assert raw is not None and raw["text"] == "written before encryption was on"

    encrypted = MessageRepository(db, cipher)
    after = await encrypted.append(conv, MessageRole.ASSISTANT, "written with a key")
    assert [m.text for m in await encrypted.recent(conv.id, 10)] == [
        "written before encryption was on",
        "written with a key",
    ]
    assert after.seq == before.seq + 1
    reread = await ConversationRepository(db, cipher).get(conv.id)
    assert reread is not None and reread.summary == ""


async def test_events_and_funnel_counts(db: Db) -> None:
    events = EventRepository(db)
    day1 = datetime(2026, 5, 1, tzinfo=UTC)
    day2 = datetime(2026, 5, 2, tzinfo=UTC)
    for user_id, name, at in [
        (1, "start", day1),
        (2, "start", day1),
        (3, "start", day2),
        (1, "paywall_shown", day1),
        (1, "paywall_shown", day2),
        (2, "paywall_shown", day2),
        (1, "paid", day2),
    ]:
        await events.record(Event(user_id=user_id, name=name, at=at, data={"plan": "pro"}))

    assert await events.count_by_name("start") == 3
    assert await events.count_by_name("start", since=day2) == 1
    assert await events.count_by_name("start", until=day2) == 2
    assert await events.users_by_name(["start", "paywall_shown", "paid", "refunded"]) == {
        "start": 3,
        "paywall_shown": 2,
        "paid": 1,
        "refunded": 0,
    }
    assert await events.users_by_name(["paywall_shown"], since=day2) == {"paywall_shown": 2}
    history = await events.for_user(1)
    assert [(e.name, e.at) for e in history] == [
        ("start", day1),
        ("paywall_shown", day1),
        ("paywall_shown", day2),
        ("paid", day2),
    ] or [(e.name, e.at) for e in history] == [
        ("paywall_shown", day1),
        ("start", day1),
        ("paywall_shown", day2),
        ("paid", day2),
    ]
    assert history[0].data == {"plan": "pro"}
    assert await events.has_event(3, "start") is True
    assert await events.has_event(3, "paid") is False


async def test_subscription_round_trip(db: Db) -> None:
    subscriptions = SubscriptionRepository(db)
    assert await subscriptions.get(11) is None
    end = datetime(2026, 7, 1, tzinfo=UTC)
    sub = Subscription(
        user_id=11, plan_id="pro_month", status=SubscriptionStatus.ACTIVE, current_period_end=end
    )
    saved = await subscriptions.save(sub)
    assert saved.current_period_end == end
    assert await subscriptions.get(11) == saved
    renewed = sub.model_copy(update={"status": SubscriptionStatus.PAST_DUE})
    await subscriptions.save(renewed)
    got = await subscriptions.get(11)
    assert got is not None and got.status is SubscriptionStatus.PAST_DUE
    assert await db[c.SUBSCRIPTIONS].count_documents({}) == 1
    assert await subscriptions.delete(11) is True
    assert await subscriptions.get(11) is None


@pytest.mark.parametrize(
    ("text", "meta"),
    [
        ("broken \ud800 surrogate", None),
        ("fine text", {"tags": {"a", "b"}}),  # a set is not BSON
        ("x" * (5 * 1024 * 1024), None),
    ],
)
async def test_unstorable_message_writes_nothing(
    db: Db, cipher: AesGcmCipher, text: str, meta: dict[str, object] | None
) -> None:
    conv = await ConversationRepository(db, cipher).start(12, "kylie")
    messages = MessageRepository(db, cipher)
    with pytest.raises(UnstorableMessageError, match="cannot be stored"):
        await messages.append(conv, MessageRole.USER, text, meta=meta)
    assert await db[c.MESSAGES].count_documents({}) == 0
    # No seq was spent on it.
    assert (await messages.append(conv, MessageRole.USER, "next")).seq == 1


async def test_repositories_satisfy_the_dialogue_ports(db: Db, cipher: AesGcmCipher) -> None:
    users: UserStore = UserRepository(db)
    conversations: ConversationStore = ConversationRepository(db, cipher)
    messages: MessageStore = MessageRepository(db, cipher)
    events: EventSink = EventRepository(db)
    await users.upsert(User(id=13))
    conv = await conversations.start(13, "kylie")
    await messages.append(conv, MessageRole.USER, "through the port")
    await events.record(Event(user_id=13, name="first_message"))
    assert [m.text for m in await messages.recent(conv.id, 1)] == ["through the port"]
    assert await db[c.EVENTS].count_documents({"user_id": 13}) == 1


async def test_recent_reaches_past_a_run_of_interrupted_replies(
    db: Db, cipher: AesGcmCipher
) -> None:
    conv = await ConversationRepository(db, cipher).start(14, "kylie")
    messages = MessageRepository(db, cipher)
    for i in range(1, 4):
        await messages.append(conv, MessageRole.USER, f"kept {i}")
    for i in range(40):  # far more than the first read window of recent(2)
        await messages.append(
            conv, MessageRole.ASSISTANT, f"failed {i}", status=MessageStatus.INTERRUPTED
        )
    await messages.append(conv, MessageRole.USER, "latest")
    assert [m.text for m in await messages.recent(conv.id, 3)] == ["kept 2", "kept 3", "latest"]
    assert [m.text for m in await messages.recent(conv.id, 3, after_seq=2)] == [
        "kept 3",
        "latest",
    ]
    assert [m.text for m in await messages.recent(conv.id, 100)] == [
        "kept 1",
        "kept 2",
        "kept 3",
        "latest",
    ]


async def test_recent_reads_an_index_range_not_the_collection(db: Db, cipher: AesGcmCipher) -> None:
    # SecantusDB answers "sort by seq, limit" by reading every message of the conversation;
    # recent() therefore asks for seq ranges, which the (conversation_id, seq) index serves.
    conv = await ConversationRepository(db, cipher).start(15, "kylie")
    await MessageRepository(db, cipher).append(conv, MessageRole.USER, "x")
    plan = await db[c.MESSAGES].find(seq_window(conv.id, 0, 20)).explain()

    def stages(node: dict[str, Any]) -> list[str]:
        below = node.get("inputStage")
        return [node["stage"], *(stages(below) if below else [])]

    winning = stages(plan["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in winning and "COLLSCAN" not in winning
