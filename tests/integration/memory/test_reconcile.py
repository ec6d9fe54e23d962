from __future__ import annotations

import os
from datetime import UTC, datetime

from companion.memory.extraction import CandidateFact
from companion.memory.facts import Fact, FactCategory
from companion.memory.reconcile import Action, Reconciler
from companion.memory.store import FactStore, Tombstone
from companion.storage.crypto import AesGcmCipher
from tests.integration.memory.conftest import MemoryWorld, fact


async def learn(
    world: MemoryWorld, text: str, facts: list[dict[str, object]], persona: str = "anna"
) -> None:
    user = world.user()
    conversation = await world.conversations.get_or_start(user.id, persona)
    await world.exchange(conversation, text)
    world.script.extract.append({"facts": facts})
    world.service.schedule_extraction(user, conversation)
    await world.service.drain()


async def test_moving_updates_where_the_user_lives_and_keeps_history(world: MemoryWorld) -> None:
    await learn(world, "I live in Moscow", [fact("The user lives in Moscow", "places", 5)])
    await learn(
        world, "I moved to Kazan last week!", [fact("The user moved to Kazan", "places", 5)]
    )
    facts = await world.service.list_facts(42)
    assert [f.text for f in facts] == ["The user moved to Kazan"]
    detailed = await world.service.get_fact(42, facts[0].id)
    assert detailed is not None
    assert [v.text for v in detailed.history] == ["The user lives in Moscow"]
    assert len(detailed.source_message_ids) == 2
    # The retriever follows the update: Kazan is found, Moscow no longer matches lexically.
    hits = await world.service.search(42, "Kazan", 3)
    assert [h.fact.text for h in hits] == ["The user moved to Kazan"]
    # A sister's city is another slot: it is added, not an update of the user's city.
    await learn(
        world, "My sister lives in Omsk", [fact("The user's sister lives in Omsk", "people")]
    )
    assert len(await world.service.list_facts(42)) == 2


async def test_a_repeated_fact_is_stored_once(world: MemoryWorld) -> None:
    await learn(world, "I love horror films", [fact("The user loves horror films", "preferences")])
    await learn(
        world, "Horror films are the best", [fact("The user loves horror films.", "preferences")]
    )
    await learn(
        world,
        "Did I say I love horror?",
        [fact("The user really loves horror movies", "preferences")],
    )
    facts = await world.service.list_facts(42)
    assert [f.text for f in facts] == ["The user loves horror films"]
    assert len(facts[0].source_message_ids) == 3
    assert [o.action for o in world.service.last_outcomes] == [Action.KEEP]
    reconcile_calls = [
        b
        for b in world.emulator.chat_requests
        if b["response_format"]["json_schema"]["name"] == "memory_reconcile"
    ]
    assert reconcile_calls == []  # duplicates are caught without asking the model


async def test_model_decides_delete_and_update_for_related_facts(world: MemoryWorld) -> None:
    await learn(world, "My cat is Tom", [fact("The user has a cat named Tom", "people", 4)])
    world.script.reconcile.append({"action": "delete", "target": 1})
    await learn(
        world, "Tom ran away, I have no cat now", [fact("The user no longer has a cat", "people")]
    )
    assert await world.service.list_facts(42) == []
    prompt = [
        b
        for b in world.emulator.chat_requests
        if b["response_format"]["json_schema"]["name"] == "memory_reconcile"
    ][-1]
    assert "[1] The user has a cat named Tom" in prompt["messages"][0]["content"]

    await learn(world, "I like tea", [fact("The user likes green tea", "preferences")])
    world.script.reconcile.append({"action": "update", "target": 1})
    await learn(
        world,
        "Actually I switched to coffee",
        [fact("The user likes coffee now, not tea", "preferences")],
    )
    facts = await world.service.list_facts(42)
    assert [f.text for f in facts] == ["The user likes coffee now, not tea"]
    history = await world.service.get_fact(42, facts[0].id)
    assert history is not None and [v.text for v in history.history] == ["The user likes green tea"]


async def test_an_invalid_decision_falls_back_to_adding(world: MemoryWorld) -> None:
    await learn(world, "I like tea", [fact("The user likes tea", "preferences")])
    world.script.reconcile.append({"action": "update", "target": 7})  # no such fact
    await learn(world, "I like coffee", [fact("The user likes coffee", "preferences")])
    assert sorted(f.text for f in await world.service.list_facts(42)) == [
        "The user likes coffee",
        "The user likes tea",
    ]


async def test_russian_move_updates_the_city(world: MemoryWorld) -> None:
    await learn(world, "Я живу в Москве", [fact("Пользователь живёт в Москве", "places", 5)])
    await learn(
        world, "Я переехала в Казань", [fact("Пользователь переехала в Казань", "places", 5)]
    )
    facts = await world.service.list_facts(42)
    assert [f.text for f in facts] == ["Пользователь переехала в Казань"]


async def test_model_keep_adds_the_sources_and_stores_nothing_new(world: MemoryWorld) -> None:
    await learn(world, "I like tea", [fact("The user likes tea", "preferences")])
    world.script.reconcile.append({"action": "keep", "target": 1})
    await learn(
        world,
        "Tea in the evening is my thing",
        [fact("The user enjoys tea in the evenings", "preferences")],
    )
    facts = await world.service.list_facts(42)
    assert [f.text for f in facts] == ["The user likes tea"]
    assert len(facts[0].source_message_ids) == 2
    assert [o.action for o in world.service.last_outcomes] == [Action.KEEP]


async def test_a_fact_deleted_on_another_worker_while_reconciling_is_taken_back(
    world: MemoryWorld,
) -> None:
    text = "The user smokes cigarettes"
    embedder = world.service.embedder
    cipher = AesGcmCipher(os.urandom(32))

    class DeletedRightAfterTheRead(FactStore):
        """The user deletes the fact in /memory on another worker just after this pass has
        read the tombstones (while it would be asking the model, in production)."""

        reads = 0

        async def tombstones(self, user_id: int) -> list[Tombstone]:
            found = await super().tombstones(user_id)
            self.reads += 1
            if self.reads == 1:
                other = FactStore(world.db, cipher, embedding_model=embedder.model_id)
                [vector] = await embedder.embed_passages([text])
                await other.insert(Fact(id="elsewhere", user_id=42, text=text), vector)
                await other.delete(42, "elsewhere", tombstone=True)
            return found

    store = DeletedRightAfterTheRead(world.db, cipher, embedding_model=embedder.model_id)
    reconciler = Reconciler(store, world.service.fact_retriever, embedder)
    candidates = [
        CandidateFact(text=text, category=FactCategory.HEALTH, importance=4, refers_to=None),
        CandidateFact(
            text="The user goes running every morning",
            category=FactCategory.HEALTH,
            importance=3,
            refers_to=None,
        ),
    ]
    outcomes = await reconciler.apply(42, candidates, persona_id="anna", now=datetime.now(UTC))

    assert [o.action for o in outcomes] == [Action.SUPPRESSED, Action.ADD]
    assert [f.text for f in await store.all(42)] == ["The user goes running every morning"]
    hits = await world.service.fact_retriever.search(42, "smokes cigarettes", 5)
    assert {hit.id for hit in hits} == {outcomes[1].fact_id}
