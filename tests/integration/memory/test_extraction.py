from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from bson.binary import Binary

from companion.memory.facts import FactCategory
from tests.integration.memory.conftest import MemoryWorld, fact


async def test_valid_output_stores_facts_with_sources_dates_and_encryption(
    world: MemoryWorld,
) -> None:
    user = world.user()
    conversation = await world.conversations.start(user.id, "anna")
    await world.exchange(conversation, "I have a dentist appointment tomorrow, and my dog is Rex")
    world.script.extract.append(
        {
            "facts": [
                fact("The user has a dentist appointment", "events", 3, when="tomorrow"),
                fact("The user has a dog called Rex", "people", 4),
            ]
        }
    )
    world.service.schedule_extraction(user, conversation)
    await world.service.drain()

    request = world.extraction_requests()[-1]
    assert request["response_format"]["type"] == "json_schema"
    assert "dentist appointment tomorrow" in request["messages"][0]["content"]

    facts = {f.text: f for f in await world.service.list_facts(user.id)}
    assert set(facts) == {"The user has a dentist appointment", "The user has a dog called Rex"}
    messages = await world.messages.recent(conversation.id, 10)
    dentist = facts["The user has a dentist appointment"]
    assert dentist.refers_to == messages[0].created_at.date() + timedelta(days=1)
    assert dentist.source_message_ids == [messages[0].id]
    assert dentist.category is FactCategory.EVENTS and dentist.persona_id == "anna"

    raw = await world.db["memories"].find_one({"_id": dentist.id})
    assert raw is not None
    assert isinstance(raw["text"], bytes) and b"dentist" not in raw["text"]
    assert isinstance(raw["vector"], Binary) and raw["vector"].subtype == 9
    episode = await world.db["episodes"].find_one({"_id": messages[0].id})
    assert episode is not None and isinstance(episode["user_text"], bytes)


async def test_invalid_output_is_retried_once_then_dropped(world: MemoryWorld) -> None:
    user = world.user()
    conversation = await world.conversations.start(user.id, "anna")
    await world.exchange(conversation, "My sister Olga is a pilot")
    world.script.extract.extend(["sorry, I cannot do that", '{"facts": "oops"'])
    world.service.schedule_extraction(user, conversation)
    await world.service.drain()
    assert len(world.extraction_requests()) == 2
    assert await world.service.list_facts(user.id) == []
    assert world.service.extractor is not None and world.service.extractor.dropped_outputs == 1


async def test_invalid_then_valid_output_keeps_the_retry(world: MemoryWorld) -> None:
    user = world.user()
    conversation = await world.conversations.start(user.id, "anna")
    await world.exchange(conversation, "My sister Olga is a pilot")
    world.script.extract.extend(
        [
            '```json\n{"facts": [\n```',
            {"facts": [fact("The user's sister Olga is a pilot", "people")]},
        ]
    )
    world.service.schedule_extraction(user, conversation)
    await world.service.drain()
    assert len(world.extraction_requests()) == 2
    assert [f.text for f in await world.service.list_facts(user.id)] == [
        "The user's sister Olga is a pilot"
    ]


async def test_partial_output_keeps_the_valid_items(world: MemoryWorld) -> None:
    user = world.user()
    conversation = await world.conversations.start(user.id, "anna")
    await world.exchange(conversation, "I'm a teacher and I love sushi")
    world.script.extract.append(
        {
            "facts": [
                fact("The user works as a teacher", "work", 5),
                {"category": "preferences", "importance": 3},  # no text
                fact("ok"),  # too short to be a fact
                "The user loves sushi",  # not an object
                fact("The user loves sushi", "nonsense-category", importance=9),
            ]
        }
    )
    world.service.schedule_extraction(user, conversation)
    await world.service.drain()
    assert len(world.extraction_requests()) == 1  # partial output is not retried
    facts = {f.text: f for f in await world.service.list_facts(user.id)}
    assert set(facts) == {"The user works as a teacher", "The user loves sushi"}
    assert facts["The user loves sushi"].category is FactCategory.OTHER
    assert facts["The user loves sushi"].importance == 5


async def test_facts_taken_from_the_persona_lines_are_dropped(world: MemoryWorld) -> None:
    user = world.user()
    conversation = await world.conversations.start(user.id, "anna")
    await world.exchange(conversation, "What do you like?", "I adore painting watercolours")
    world.script.extract.append(
        {"facts": [fact("The user adores painting watercolours", sources=[2])]}
    )
    world.service.schedule_extraction(user, conversation)
    await world.service.drain()
    prompt = world.extraction_requests()[-1]["messages"][0]["content"]
    assert "[2] Anna: I adore painting watercolours" in prompt
    assert await world.service.list_facts(user.id) == []


async def test_extraction_is_batched_and_never_blocks(world: MemoryWorld) -> None:
    service = world.make_service(extract_every_turns=2)
    try:
        user = world.user()
        conversation = await world.conversations.start(user.id, "anna")
        world.emulator.response_delay_s = 0.5
        await world.exchange(conversation, "I live in Tver")
        service.schedule_extraction(user, conversation)
        await world.exchange(conversation, "I work at a bakery")
        started = time.perf_counter()
        service.schedule_extraction(user, conversation)
        assert time.perf_counter() - started < 0.05
        await service.drain()
        requests = world.extraction_requests()
        assert len(requests) == 1
        prompt = requests[0]["messages"][0]["content"]
        assert "I live in Tver" in prompt and "I work at a bakery" in prompt
        # Nothing new since: another drain sends nothing.
        service.schedule_extraction(user, conversation)
        await service.drain()
        assert len(world.extraction_requests()) == 1
    finally:
        await service.aclose()


async def test_a_pass_runs_after_the_conversation_goes_idle(world: MemoryWorld) -> None:
    from companion.memory.memory_config import MemoryConfig

    service = world.make_service(config=MemoryConfig(extract_every_turns=5, idle_extract_s=0.2))
    try:
        user = world.user()
        conversation = await world.conversations.start(user.id, "anna")
        await world.exchange(conversation, "I play the cello")
        world.script.extract.append({"facts": [fact("The user plays the cello", "preferences")]})
        service.schedule_extraction(user, conversation)
        assert world.extraction_requests() == []  # one exchange of five: nothing yet
        for _ in range(100):
            if await service.list_facts(user.id):
                break
            await asyncio.sleep(0.05)
        assert [f.text for f in await service.list_facts(user.id)] == ["The user plays the cello"]
    finally:
        await service.aclose()
