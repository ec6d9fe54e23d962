"""Vectors remember which model wrote them; `Reembedder` moves stored memory to a new model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pymongo.asynchronous.database import AsyncDatabase

from companion.memory.episode_store import EpisodeStore
from companion.memory.facts import Episode, Fact
from companion.memory.reembed import Reembedder
from companion.memory.store import FactStore
from companion.storage.crypto import AesGcmCipher
from tests.unit.memory.fakes import DIMENSION, HashingEmbedder

Db = AsyncDatabase[dict[str, Any]]
FACTS = ["The user lives in Kazan", "The user has a cat named Tom", "The user works as a nurse"]


class OtherModel(HashingEmbedder):
    """Another model with vectors of the same size: comparing them with the first is noise."""

    model_id = "other-model"

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        vectors = await super().embed_passages(texts)
        return np.roll(vectors, 7, axis=1)  # same size, another space


def stores(db: Db, cipher: AesGcmCipher, model: str | None) -> tuple[FactStore, EpisodeStore]:
    return (
        FactStore(db, cipher, embedding_model=model),
        EpisodeStore(db, cipher, embedding_model=model),
    )


async def seed(db: Db, cipher: AesGcmCipher) -> None:
    """Memory written by the first model: three facts, two exchanges, one tombstone."""
    first = HashingEmbedder()
    facts, episodes = stores(db, cipher, first.model_id)
    vectors = await first.embed_passages(FACTS)
    for number, (text, vector) in enumerate(zip(FACTS, vectors, strict=True)):
        await facts.insert(Fact(id=f"f{number}", user_id=7, text=text), vector)
    for number, text in enumerate(["I adopted a cat", "Kazan is lovely in May"]):
        episode = Episode(
            id=f"e{number}",
            user_id=7,
            persona_id="anna",
            conversation_id="c1",
            seq=number * 2 + 1,
            user_text=text,
            reply_text="Tell me more!",
            created_at=datetime.now(UTC),
        )
        [vector] = await first.embed_passages([episode.search_text])
        await episodes.save(episode, vector)
    await facts.delete(7, "f2", tombstone=True)  # the user deleted "works as a nurse"


async def test_after_a_model_change_search_leaves_old_vectors_out_until_reembedded(
    mongo_db: Db,
) -> None:
    cipher = AesGcmCipher(os.urandom(32))
    await seed(mongo_db, cipher)
    new = OtherModel()
    facts, episodes = stores(mongo_db, cipher, new.model_id)

    # The old model's vectors are not mixed into the new model's search.
    assert await facts.load(7) == []
    assert await episodes.load(7) == []
    [tombstone] = await facts.tombstones(7)
    assert tombstone.vector is None and tombstone.text_hash  # still blocks by exact text

    reembedder = Reembedder([facts, episodes], new, batch_size=1)
    assert await reembedder.pending() == {"memories": 2, "episodes": 2}
    progress: list[tuple[str, int]] = []
    report = await reembedder.run(lambda name, n: progress.append((name, n)))
    assert report.rewritten == {"memories": 2, "episodes": 2}
    assert report.changed_meanwhile == 0
    assert progress == [("memories", 1)] * 2 + [("episodes", 1)] * 2

    loaded = {record.text: record.vector for record in await facts.load(7)}
    assert set(loaded) == set(FACTS[:2])
    for text, vector in loaded.items():
        assert vector is not None
        np.testing.assert_allclose(vector, (await new.embed_passages([text]))[0], atol=1e-6)
    assert {record.id for record in await episodes.load(7)} == {"e0", "e1"}
    # Nothing is left to do, and a second run changes nothing.
    assert await reembedder.pending() == {"memories": 0, "episodes": 0}
    assert (await reembedder.run()).rewritten == {"memories": 0, "episodes": 0}
    # The first model's stores now see the new model's vectors as foreign.
    old_facts, _ = stores(mongo_db, cipher, HashingEmbedder.model_id)
    assert await old_facts.load(7) == []


async def test_a_fact_changed_while_reembedding_keeps_its_newer_vector(mongo_db: Db) -> None:
    cipher = AesGcmCipher(os.urandom(32))
    await seed(mongo_db, cipher)
    facts, episodes = stores(mongo_db, cipher, OtherModel.model_id)

    class BotWritesMeanwhile(OtherModel):
        """While the first batch is being embedded, the bot rewrites fact f0: once with the
        new model (a current worker) and once, for f1, with the old one (a worker not yet
        restarted)."""

        calls = 0

        async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
            vectors = await super().embed_passages(texts)
            if self.calls == 1:
                current = await facts.get(7, "f0")
                assert current is not None
                moved = current.model_copy(update={"text": "The user lives in Moscow"})
                [vector] = await super().embed_passages([moved.text])
                await facts.replace_text(
                    current, moved, vector, reason="moved", now=datetime.now(UTC)
                )
                stale_writer = FactStore(mongo_db, cipher, embedding_model="hashing-test")
                older = await stale_writer.get(7, "f1")
                assert older is not None
                renamed = older.model_copy(update={"text": "The user has a cat named Felix"})
                [old_vector] = await HashingEmbedder().embed_passages([renamed.text])
                await stale_writer.replace_text(
                    older, renamed, old_vector, reason="renamed", now=datetime.now(UTC)
                )
            return vectors

    embedder = BotWritesMeanwhile()
    report = await Reembedder([facts, episodes], embedder, batch_size=8).run()
    # f1 was rewritten by an old-model worker: left for the next run, not overwritten.
    assert report.changed_meanwhile == 1
    assert report.rewritten["memories"] == 0
    loaded = {record.id: record for record in await facts.load(7)}
    assert set(loaded) == {"f0"}
    assert loaded["f0"].text == "The user lives in Moscow"
    assert loaded["f0"].vector is not None
    np.testing.assert_allclose(
        loaded["f0"].vector,
        (await OtherModel().embed_passages(["The user lives in Moscow"]))[0],
        atol=1e-6,
    )
    # The next run re-embeds f1's new text.
    report = await Reembedder([facts, episodes], OtherModel()).run()
    assert report.rewritten["memories"] == 1
    assert {record.text for record in await facts.load(7)} == {
        "The user lives in Moscow",
        "The user has a cat named Felix",
    }


async def test_vectors_stored_without_a_model_id_count_as_current_and_can_be_reembedded(
    mongo_db: Db,
) -> None:
    cipher = AesGcmCipher(os.urandom(32))
    untagged, _ = stores(mongo_db, cipher, None)
    [vector] = await HashingEmbedder().embed_passages([FACTS[0]])
    await untagged.insert(Fact(id="legacy", user_id=7, text=FACTS[0]), vector)

    facts, episodes = stores(mongo_db, cipher, HashingEmbedder.model_id)
    assert [record.id for record in await facts.load(7)] == ["legacy"]
    report = await Reembedder([facts, episodes], HashingEmbedder()).run()
    assert report.rewritten == {"memories": 1, "episodes": 0}
    document = await mongo_db["memories"].find_one({"_id": "legacy"})
    assert document is not None and document["embedding_model"] == "hashing-test"
    assert len(document["vector"]) > DIMENSION  # still a stored BSON vector
