"""Questions about several things (sub-queries) and the bounded date lift (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from companion.memory.bm25 import BM25Index
from companion.memory.records import InMemoryRecordSource, MemoryRecord
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig
from companion.memory.subqueries import lexical_signal, question_parts
from tests.unit.memory.fakes import HashingEmbedder

NOW = datetime(2026, 6, 3, 12, tzinfo=UTC)
USER = 7
FLAT = np.eye(4, dtype=np.float32)[0]  # every record's vector: dense ranks nothing
QUERY = np.eye(4, dtype=np.float32)[1]


def test_quoted_items_are_the_parts() -> None:
    question = (
        "Which book did I finish reading first, 'The Hate U Give' or 'The Nightingale'? "
        "I've read my friend's copy."
    )
    assert question_parts(question) == ["The Hate U Give", "The Nightingale"]
    three = (
        "What is the order of: 'I signed up at ShopRite', 'I used a coupon', and 'I redeemed $12'?"
    )
    assert question_parts(three) == ["I signed up at ShopRite", "I used a coupon", "I redeemed $12"]


def test_joined_things_are_split_and_a_plain_question_is_not() -> None:
    assert question_parts("Which device did I get first, the Galaxy S22 or the Dell XPS 13?") == [
        "Which device did I get first, the Galaxy S22",
        "the Dell XPS 13?",
    ]
    assert question_parts("Что я купил раньше: кроватку для Макса или пелёнки для щенка?") == [
        "Что я купил раньше: кроватку для Макса",
        "пелёнки для щенка?",
    ]
    assert question_parts("What is my pet called?") == []
    # Not at commas, and a part with one content word is no part: "like" would match half
    # of any history.
    assert question_parts("Remind me, what did I read, and how did I like it?") == []


def test_each_part_scores_against_its_own_ideal() -> None:
    bm25 = BM25Index()
    texts = ["orthopedic dog bed for Max", "the puppy pads", "Max and the dog", "bad weather"]
    for text in texts:
        bm25.add(text)
    query = "the orthopedic dog bed for Max or the puppy pads?"
    whole = bm25.scores(query)
    mask = np.ones(len(texts), dtype=np.bool_)
    plain = lexical_signal(bm25, query, whole, bm25.ideal(query), mask, 0.0)
    split = lexical_signal(bm25, query, whole, bm25.ideal(query), mask, 1.0)
    assert plain[1] < 0.5 < split[1]  # "the puppy pads" holds all of its part
    assert np.all(split >= plain) and split[3] == 0.0
    masked = lexical_signal(bm25, query, whole, bm25.ideal(query), ~mask, 1.0)
    assert masked[1] == 0.0  # a part never lifts a row the search left out


async def test_a_part_with_few_words_still_finds_its_exchange() -> None:
    # "Which came first, the dog bed for Max or the pads?": the first part's rare words make
    # every record about Max or the bed outscore "pads" on the whole question.
    texts = {
        "bed": "Bought an orthopedic dog bed for Max",
        "pads": "Ordered the puppy pads online, with a discount, to arrive some time next week",
        "chewed": "Max chewed the dog bed",
        "loves": "Max loves his orthopedic bed",
        "comfy": "The orthopedic dog bed is comfy",
        "rain": "It rained all day",
        "soup": "Made soup for dinner",
    }
    records = [
        MemoryRecord(i, text, NOW - timedelta(days=20 + n), vector=FLAT)
        for n, (i, text) in enumerate(texts.items())
    ]
    question = "Which came first, the orthopedic dog bed for Max or the puppy pads?"
    found: dict[float, list[str]] = {}
    for weight in (0.0, 1.0):
        config = RetrieverConfig(
            part_weight=weight, recency_weight=0.0, supersede_weight=0.0, mmr_lambda=1.0
        )
        retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
        await retriever.index(USER, records)
        hits = await retriever.search(USER, question, 2, now=NOW, query_vector=QUERY)
        found[weight] = [hit.id for hit in hits]
    assert sorted(found[1.0]) == ["bed", "pads"]
    assert "pads" not in found[0.0]


async def test_a_scaled_date_lift_keeps_a_strong_match_said_outside_the_span() -> None:
    records = [
        MemoryRecord(
            "borscht", "Cooked borscht and pelmeni", NOW - timedelta(days=40), vector=FLAT
        ),
        MemoryRecord("cinema", "Went to the cinema", NOW - timedelta(days=7), vector=FLAT),
        MemoryRecord("pasta-new", "Cooked pasta", NOW - timedelta(days=7), vector=FLAT),
        MemoryRecord("pasta-old", "Cooked pasta", NOW - timedelta(days=60), vector=FLAT),
        *(
            MemoryRecord(f"filler{i}", "Work was busy", NOW - timedelta(days=90 + i), vector=FLAT)
            for i in range(6)
        ),
    ]
    ranked: dict[str, list[str]] = {}
    for mode in ("add", "scale"):
        config = RetrieverConfig(
            date_mode=mode,  # type: ignore[arg-type]
            recency_weight=0.0,
            supersede_weight=0.0,
            mmr_lambda=1.0,
        )
        retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
        await retriever.index(USER, records)
        question = "What did I cook, borscht and pelmeni or pasta, last week?"
        hits = await retriever.search(USER, question, 4, now=NOW, query_vector=QUERY)
        ranked[mode] = [hit.id for hit in hits]
    # Added, the lift puts an unrelated record of that week above the best match.
    assert ranked["add"].index("cinema") < ranked["add"].index("borscht")
    # Scaled, it only reorders matches: the week's pasta before the older pasta.
    assert ranked["scale"][0] == "borscht" and "cinema" not in ranked["scale"][:3]
    assert ranked["scale"].index("pasta-new") < ranked["scale"].index("pasta-old")
