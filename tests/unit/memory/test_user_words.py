"""RetrieverConfig.user_words_weight: BM25 counts the user's own message of an exchange more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from companion.memory.facts import Episode
from companion.memory.records import InMemoryRecordSource, MemoryRecord
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig
from tests.unit.memory.fakes import HashingEmbedder
from tests.unit.memory.test_retriever import FILLERS, USER

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _exchange(record_id: str, user: str, reply: str, days_ago: int) -> MemoryRecord:
    return MemoryRecord(
        record_id, f"{user}\n{reply}", NOW - timedelta(days=days_ago), user_chars=len(user)
    )


async def test_the_users_own_words_outweigh_the_replys_when_weighted() -> None:
    # Asked about the guitar: the user said it in one exchange; in the other the persona
    # only went on about guitars in a long reply. Counted once, the reply's words win.
    records = [
        _exchange("said", "I finally bought a guitar", "Nice! What kind?", 3),
        _exchange(
            "chatter",
            "Any music tips?",
            "A guitar is a fine start: guitar lessons, guitar songs, a cheap guitar first",
            2,
        ),
        *(
            MemoryRecord(f"filler{i}", text, NOW - timedelta(days=9))
            for i, text in enumerate(FILLERS)
        ),
    ]
    lexical: dict[float, dict[str, float]] = {}
    for weight in (1.0, 3.0):
        config = RetrieverConfig(user_words_weight=weight, recency_weight=0.0, mmr_lambda=1.0)
        retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
        await retriever.index(USER, records)
        hits = await retriever.search(USER, "when did I buy a guitar?", 2, now=NOW)
        lexical[weight] = {hit.id: hit.lexical for hit in hits}
    assert lexical[1.0]["chatter"] > lexical[1.0]["said"]
    assert lexical[3.0]["said"] > lexical[3.0]["chatter"]


async def test_the_user_part_survives_a_rebuild_of_the_index() -> None:
    config = RetrieverConfig(user_words_weight=2.0)
    retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
    stored = await retriever.index(USER, [_exchange("a", "my cat Tom", "lovely", 1)])
    assert stored[0].user_chars == len("my cat Tom")
    assert (await retriever.records(USER))[0].user_chars == len("my cat Tom")


def test_an_episode_says_how_much_of_its_text_is_the_users() -> None:
    episode = Episode(
        id="m1",
        user_id=USER,
        persona_id="p",
        conversation_id="c",
        seq=1,
        user_text="  I moved to Tver ",
        reply_text="How is it?",
        created_at=NOW,
    )
    assert episode.search_text[: episode.user_chars] == "I moved to Tver"
