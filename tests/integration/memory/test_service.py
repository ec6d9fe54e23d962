from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from companion.domain.personas import Persona
from companion.memory.embedder import SentenceTransformerEmbedder
from companion.memory.reconcile import Action
from companion.memory.service import MemoryService
from companion.metrics import Metrics
from companion.storage.crypto import AesGcmCipher
from companion.storage.user_data import UserDataService
from tests.integration.memory.conftest import MemoryWorld, fact


def persona(persona_id: str = "anna") -> Persona:
    return Persona(
        id=persona_id,
        name=persona_id.title(),
        module="support",
        languages=["en"],
        preview="A friend",
        description="d",
        personality="p",
        speaking_style="s",
        scenario="s",
        greetings={"en": ["Hi"]},
    )


async def learn(
    world: MemoryWorld,
    text: str,
    facts: list[dict[str, object]],
    persona_id: str = "anna",
    reply: str = "I see!",
) -> None:
    user = world.user()
    conversation = await world.conversations.get_or_start(user.id, persona_id)
    await world.exchange(conversation, text, reply)
    world.script.extract.append({"facts": facts})
    world.service.schedule_extraction(user, conversation)
    await world.service.drain()


async def test_recall_ranks_relevant_facts_and_recalls_past_exchanges(world: MemoryWorld) -> None:
    await learn(
        world,
        "I work as a nurse",
        [fact("The user works as a nurse at the city hospital", "work", 4)],
    )
    await learn(world, "My name is Lena", [fact("The user's name is Lena", "identity", 5)])
    await learn(world, "I like jazz", [fact("The user likes jazz music", "preferences", 3)])
    await learn(
        world, "My cat Tom broke my favourite blue vase yesterday", [], reply="Oh no, poor vase!"
    )
    await learn(world, "Gardening is boring", [])
    await learn(world, "I baked bread today", [])
    await learn(world, "I'm going to the gym", [])
    await learn(world, "We talked about the vase with Max", [], persona_id="max")

    conversation = await world.conversations.get_active(42, "anna")
    assert conversation is not None
    recent = await world.messages.recent(conversation.id, 4)  # the last two exchanges
    recollection = await world.service.recall(
        world.user(), persona(), "How were your hospital shifts this week?", recent
    )
    assert recollection.facts[0] == "The user works as a nurse at the city hospital"
    assert "The user's name is Lena" in recollection.facts  # core fact, always offered
    assert "The user likes jazz music" not in recollection.facts  # unrelated

    recollection = await world.service.recall(
        world.user(), persona(), "remember that vase my cat broke?", recent
    )
    assert recollection.episodes, recollection
    assert "My cat Tom broke my favourite blue vase yesterday" in recollection.episodes[0]
    assert "Oh no, poor vase!" in recollection.episodes[0]
    assert recollection.episodes[0].startswith("On ")
    # Another persona's conversation is not "remembered" by Anna.
    assert not any("Max" in line for line in recollection.episodes)

    # Exchanges already in the recent window are not repeated.
    everything = await world.messages.recent(conversation.id, 100)
    recollection = await world.service.recall(
        world.user(), persona(), "remember that vase my cat broke?", everything
    )
    assert recollection.episodes == []


async def test_recall_respects_the_token_budget(world: MemoryWorld) -> None:
    service = world.make_service(prompt_token_budget=12)
    try:
        await learn(
            world,
            "facts",
            [
                fact("The user works as a nurse at the city hospital", "work", 4),
                fact("The user has worked night shifts at the hospital for years", "work", 4),
            ],
        )
        recollection = await service.recall(world.user(), persona(), "hospital shifts", [])
        assert len(recollection.facts) == 1
    finally:
        await service.aclose()


async def test_a_deleted_fact_never_comes_back(world: MemoryWorld) -> None:
    await learn(world, "I smoke", [fact("The user smokes cigarettes", "health", 4)])
    [smoking] = await world.service.list_facts(42)
    assert await world.service.delete_fact(42, smoking.id)
    assert not await world.service.delete_fact(42, smoking.id)
    assert await world.service.list_facts(42) == []
    assert await world.service.search(42, "cigarettes", 5) == []
    # The same fact re-extracted (e.g. from old messages), verbatim or lightly reworded.
    await learn(
        world,
        "I smoke, as I said",
        [
            fact("The user smokes cigarettes.", "health"),
            fact("The user smokes cigarettes daily", "health"),
        ],
    )
    assert await world.service.list_facts(42) == []
    assert {o.action for o in world.service.last_outcomes} == {Action.SUPPRESSED}
    # Other facts are still learnt.
    await learn(world, "I run", [fact("The user goes running every morning", "health")])
    assert [f.text for f in await world.service.list_facts(42)] == [
        "The user goes running every morning"
    ]


async def test_each_pass_is_timed_by_outcome_on_the_metrics(world: MemoryWorld) -> None:
    metrics = Metrics()
    service = world.make_service(observe_pass=metrics.observe_memory_pass)
    try:
        user = world.user()
        conversation = await world.conversations.get_or_start(user.id, "anna")
        await world.exchange(conversation, "I grow tomatoes", "Lovely!")
        world.script.extract.append({"facts": [fact("The user grows tomatoes", "preferences")]})
        service.schedule_extraction(user, conversation)
        await service.drain()
        service.schedule_extraction(user, conversation)  # nothing new since the last pass
        await service.drain()
    finally:
        await service.aclose()

    def sample(name: str, outcome: str) -> float:
        value = metrics.registry.get_sample_value(name, {"outcome": outcome})
        return value or 0.0

    assert sample("companion_memory_pass_seconds_count", "learned") == 1
    assert sample("companion_memory_pass_seconds_count", "nothing") == 1
    assert sample("companion_memory_pass_seconds_count", "failed") == 0
    assert 0 < sample("companion_memory_pass_seconds_sum", "learned") < 60
    assert [f.text for f in await service.list_facts(user.id)] == ["The user grows tomatoes"]


async def test_an_edited_fact_is_recalled_by_its_new_wording(world: MemoryWorld) -> None:
    await learn(world, "My dog is Rex", [fact("The user has a dog named Rex", "people", 4)])
    [dog] = await world.service.list_facts(42)
    edited = await world.service.edit_fact(42, dog.id, "The user has a cat named Murka")
    assert edited is not None and edited.id == dog.id
    assert edited.text == "The user has a cat named Murka"
    # The old wording stays in the fact's history; the list shows only the new one.
    assert [v.text for v in edited.history] == ["The user has a dog named Rex"]
    assert [f.text for f in await world.service.list_facts(42)] == [edited.text]
    # Recall embeds the new text: the new wording is the best hit for a query about it.
    [hit] = await world.service.search(42, "cat Murka", 1)
    assert hit.fact.text == "The user has a cat named Murka"
    # Someone else's fact, or a deleted one, cannot be edited.
    assert await world.service.edit_fact(43, dog.id, "Hijacked") is None
    assert await world.service.delete_fact(42, dog.id)
    assert await world.service.edit_fact(42, dog.id, "Back again") is None
    assert await world.service.list_facts(42) == []


async def test_forget_erases_facts_and_episodes_and_old_messages_are_not_mined_again(
    world: MemoryWorld,
) -> None:
    await learn(world, "I live in Tver", [fact("The user lives in Tver", "places", 5)])
    assert await world.db["episodes"].count_documents({"user_id": 42}) == 1
    assert await world.service.forget_user(42) == 1
    assert await world.service.list_facts(42) == []
    assert await world.db["episodes"].count_documents({"user_id": 42}) == 0
    assert await world.db["memories"].count_documents({"user_id": 42}) == 0
    recollection = await world.service.recall(world.user(), persona(), "Where do I live? Tver?", [])
    assert recollection.facts == [] and recollection.episodes == []
    # A new service (no in-memory cursor) over the same messages does not re-extract them.
    fresh = world.make_service()
    try:
        conversation = await world.conversations.get_active(42, "anna")
        assert conversation is not None
        world.script.extract.append({"facts": [fact("The user lives in Tver", "places", 5)]})
        fresh.schedule_extraction(world.user(), conversation)
        await fresh.drain()
        assert await fresh.list_facts(42) == []
    finally:
        await fresh.aclose()


async def test_a_new_service_over_the_same_database_remembers(world: MemoryWorld) -> None:
    await learn(
        world, "My daughter is Masha", [fact("The user's daughter is called Masha", "people", 5)]
    )
    await learn(world, "We went to the zoo on Sunday", [], reply="Sounds like fun!")
    await world.service.aclose()

    restarted = world.make_service()
    try:
        facts = await restarted.list_facts(42)
        assert [f.text for f in facts] == ["The user's daughter is called Masha"]
        recollection = await restarted.recall(world.user(), persona(), "how is Masha doing?", [])
        assert recollection.facts[0] == "The user's daughter is called Masha"
        recollection = await restarted.recall(world.user(), persona(), "that trip to the zoo", [])
        assert any("zoo" in line for line in recollection.episodes)
        # Its cursor comes from the stored episodes: no re-extraction of old exchanges.
        conversation = await world.conversations.get_active(42, "anna")
        assert conversation is not None
        before = len(world.extraction_requests())
        restarted.schedule_extraction(world.user(), conversation)
        await restarted.drain()
        assert len(world.extraction_requests()) == before
    finally:
        await restarted.aclose()


async def test_recall_never_raises(world: MemoryWorld) -> None:
    class Broken:
        dimension = 3

        async def embed_queries(self, texts: object) -> object:
            raise RuntimeError("model crashed")

        embed_passages = embed_queries

    world.service.embedder = Broken()  # type: ignore[assignment]
    recollection = await world.service.recall(world.user(), persona(), "hello", [])
    assert recollection.facts == [] and recollection.episodes == []


async def test_invalidate_user_after_an_erase_elsewhere(world: MemoryWorld) -> None:
    await learn(world, "I live in Tver", [fact("The user lives in Tver", "places", 5)])
    assert (await world.service.recall(world.user(), persona(), "Tver", [])).facts
    # Another component (the storage layer's /forget) erases the collections directly.
    for name in ("memories", "memory_history", "episodes"):
        await world.db[name].delete_many({"user_id": 42})
    world.service.invalidate_user(42)
    recollection = await world.service.recall(world.user(), persona(), "Tver", [])
    assert recollection.facts == [] and recollection.episodes == []


async def _while_another_worker_learns(
    world: MemoryWorld,
    text: str,
    facts: list[dict[str, object]],
    erase: Callable[[], Awaitable[object]],
) -> MemoryService:
    """Start a pass on a second service (another worker's), run `erase` while that pass waits
    for the model's extraction answer, then let the pass finish. Returns the second service."""
    user = world.user()
    conversation = await world.conversations.get_or_start(user.id, "anna")
    await world.exchange(conversation, text, "Tell me more!")
    other = world.make_service()
    world.script.extract.append({"facts": facts})
    world.emulator.response_delay_s = 0.5
    other.schedule_extraction(user, conversation)
    for _ in range(200):
        if world.extraction_requests():
            break
        await asyncio.sleep(0.01)
    assert world.extraction_requests(), "the other worker's pass never asked the model"
    # The pass has stored its episode and is waiting for the model: erase now.
    assert await world.db["episodes"].count_documents({"user_id": 42}) == 1
    await erase()
    world.emulator.response_delay_s = 0.0
    await other.drain()
    return other


async def test_a_pass_on_another_worker_does_not_outlive_forget(world: MemoryWorld) -> None:
    other = await _while_another_worker_learns(
        world,
        "I live in Tver",
        [fact("The user lives in Tver", "places", 5)],
        lambda: world.service.forget_user(42),
    )
    try:
        # The pass wrote its fact after the erase had run; it saw the marker and took it back.
        assert [o.action for o in other.last_outcomes] == [Action.ADD]
        for name in ("memories", "episodes"):
            assert await world.db[name].count_documents({"user_id": 42}) == 0, name
        assert await other.list_facts(42) == []
        assert (await other.recall(world.user(), persona(), "Tver", [])).facts == []
        # Memory works again after the forget: new messages are learnt.
        await learn(world, "I moved to Omsk", [fact("The user lives in Omsk", "places", 5)])
        assert [f.text for f in await world.service.list_facts(42)] == ["The user lives in Omsk"]
    finally:
        await other.aclose()


async def test_a_pass_on_another_worker_does_not_outlive_the_data_erasure(
    world: MemoryWorld,
) -> None:
    # /forget: the storage layer deletes every collection about the user (messages first);
    # even if the memory hook never runs afterwards (a crash), nothing learnt comes back.
    erasure = UserDataService(world.db, AesGcmCipher(os.urandom(32)))
    other = await _while_another_worker_learns(
        world,
        "My sister is Olga",
        [fact("The user's sister is Olga", "people", 5)],
        lambda: erasure.erase(42),
    )
    try:
        assert [o.action for o in other.last_outcomes] == [Action.ADD]
        for name in ("memories", "episodes", "messages"):
            assert await world.db[name].count_documents({"user_id": 42}) == 0, name
    finally:
        await other.aclose()


async def test_the_persona_named_in_a_message_does_not_recall_the_greetings(
    world: MemoryWorld,
) -> None:
    """ "Anna, what about my sister Kate?" is about the sister. With the persona's name in the
    query the exchanges where the user said hello to Anna come close enough to be recalled
    too (cosine ~0.4 against the 0.35 floor) and fill the prompt; without it they do not."""
    for greeting in ("Hi Anna!", "Good morning Anna!", "Anna, hello again!", "Hey Anna, hi!"):
        await learn(world, greeting, [], reply="Hi! So good to hear from you.")
    await learn(world, "My sister Kate moved to Berlin for a new job", [], reply="Big step!")
    await learn(world, "I baked bread today", [])
    recollection = await world.service.recall(
        world.user(), persona("anna"), "Anna, what about my sister Kate?", []
    )
    assert len(recollection.episodes) == 1, recollection.episodes
    assert "Berlin" in recollection.episodes[0]
    # The message as written still has its vector for the mood reading (companion.mood).
    embedder = world.service.embedder
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.recent_query_vector("Anna, what about my sister Kate?") is not None
