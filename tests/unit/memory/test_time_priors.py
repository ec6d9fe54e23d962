"""The time priors by question: a question about now gets recency and supersession, a
question about what happened its own (by default no recency)."""

from __future__ import annotations

import pytest

from companion.memory.present import asks_about_now, asks_to_count, time_priors
from companion.memory.records import InMemoryRecordSource
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig
from tests.unit.memory.fakes import HashingEmbedder
from tests.unit.memory.test_retriever import FILLERS, NOW, USER, rec


@pytest.mark.parametrize(
    "question",
    [
        "Which city do I live in now?",
        "How am I eating these days, diet-wise?",
        "What do I do for work at the moment?",
        "What book am I currently reading?",
        "How many tops have I bought from H&M so far?",
        "Do you still play the cello?",
        "What pastime did I recently pick up?",
        "В каком городе я сейчас живу?",
        "Где мой дом теперь?",
        "Какая у меня работа на данный момент?",
        "Что я читаю в последнее время?",
        "Я всё ещё хожу в бассейн?",
        "Ты до сих пор помнишь, как зовут мою собаку?",
    ],
)
def test_questions_about_now(question: str) -> None:
    assert asks_about_now(question)


@pytest.mark.parametrize(
    "question",
    [
        "When did Caroline go to the LGBTQ support group?",
        "What did Melanie paint for her art show?",
        "Where do I initially keep my old sneakers?",
        "What was my previous personal best time for the charity 5K run?",
        "How many days passed between the concert and the trip?",
        "Where did I get my guitar serviced?",
        "Когда я начала ходить на гончарные курсы?",
        "Что мне подарил брат на день рождения?",
        # Words that only contain a marker are not one ("known", "stillness", "сейчасный").
        "Who is known for the stillness of her paintings?",
    ],
)
def test_questions_about_what_happened(question: str) -> None:
    assert not asks_about_now(question)


@pytest.mark.parametrize(
    ("question", "counts"),
    [
        ("How many times did I go to the dentist?", True),
        ("How much did I spend on the bike in total?", True),
        ("Сколько раз я была у стоматолога?", True),
        ("Как часто я хожу в бассейн?", True),
        ("What is the total number of views on my videos?", True),
        ("What is the average age of me and my parents?", True),
        ("Какую сумму я потратил суммарно на ремонт?", True),
        ("Сколько в среднем я сплю?", True),
        ("Где я учился в средней школе?", False),
        ("What did I go to the dentist for?", False),
        ("Что мне сказал стоматолог?", False),
    ],
)
def test_questions_that_add_up_mentions(question: str, counts: bool) -> None:
    assert asks_to_count(question) is counts


def test_the_pair_follows_the_question() -> None:
    config = RetrieverConfig(
        recency_weight=0.0,
        supersede_weight=0.2,
        now_recency_weight=0.3,
        now_supersede_weight=0.1,
        count_supersede_weight=0.0,
    )
    assert time_priors(config, "Where do I live now?") == (0.3, 0.1)
    assert time_priors(config, "When did I move to Tver?") == (0.0, 0.2)
    assert time_priors(config, "How many times did I move?") == (0.0, 0.0)
    # About now and counting: now wins ("how many books do I have now?" wants the latest).
    assert time_priors(config, "How many books do I have now?") == (0.3, 0.1)


async def test_a_question_that_counts_keeps_the_older_mention() -> None:
    # Two visits to the dentist, 200 and 20 days ago. Supersession would push the first
    # visit down as replaced by the second; for "how many times" both count.
    records = [
        rec("first", "I went to the dentist for a filling", days_ago=200),
        rec("second", "I went to the dentist again for a cleaning", days_ago=20),
        rec("son", "My son has a dentist appointment on Friday", days_ago=100),
        *(rec(f"filler{i}", text, days_ago=30 + i) for i, text in enumerate(FILLERS)),
    ]
    top: dict[float, list[str]] = {}
    for weight in (0.0, 0.5):
        config = RetrieverConfig(
            recency_weight=0.0,
            supersede_weight=0.5,
            supersede_quantile=0.9,
            count_supersede_weight=weight,
            mmr_lambda=1.0,
        )
        retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
        await retriever.index(USER, records)
        hits = await retriever.search(USER, "how many times did I go to the dentist?", 2, now=NOW)
        top[weight] = sorted(hit.id for hit in hits)
    assert top[0.0] == ["first", "second"]
    assert "first" not in top[0.5]


async def test_recency_lifts_the_newer_record_only_for_a_question_about_now() -> None:
    # Two statements about the running club, a year and a week old; the older one matches the
    # question's words better. "Now" wants the newer; "when did I start going" is about the older.
    records = [
        rec("old", "I joined the running club in the park on Saturdays", days_ago=365),
        rec("new", "Running club in the park on Saturday again, we ran ten kilometres", days_ago=7),
        *(rec(f"filler{i}", text, days_ago=30 + i) for i, text in enumerate(FILLERS)),
    ]
    config = RetrieverConfig(
        recency_weight=0.0,
        supersede_weight=0.0,
        now_recency_weight=0.5,
        now_supersede_weight=0.0,
        mmr_lambda=1.0,
    )
    retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
    await retriever.index(USER, records)

    async def first(question: str) -> str:
        return (await retriever.search(USER, question, 2, now=NOW))[0].id

    assert await first("when did I start going to the running club in the park?") == "old"
    assert await first("do I still go to the running club in the park?") == "new"
    # The same configuration with the general pair made equal to the now pair: one rule for
    # every question, as before, and the question about the past is answered wrongly.
    same = RetrieverConfig(
        recency_weight=0.5, supersede_weight=0.0, now_recency_weight=0.5, mmr_lambda=1.0
    )
    retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=same)
    await retriever.index(USER, records)
    assert await first("when did I start going to the running club in the park?") == "new"
