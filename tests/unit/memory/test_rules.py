from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bson.binary import Binary

from companion.memory.atlas import vector_search_pipeline
from companion.memory.embedder import from_bson, resolve_model, to_bson
from companion.memory.extraction import ExtractionOutputError, parse_items
from companion.memory.facts import FactCategory
from companion.memory.reconcile import slot_key


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("The user lives in Moscow", "The user moved to Kazan"),
        ("The user lives in Moscow", "The user now lives in Kazan"),
        ("Пользователь живёт в Москве", "Пользователь переехал в Казань"),
        ("The user works as a nurse", "The user works at a bank"),
        ("The user's name is Ivan", "The user's name is Vanya"),
        ("The user is 30 years old", "The user is 31 years old"),
        ("The user's favourite colour is blue", "The user's favorite colour is green"),
    ],
)
def test_same_slot(old: str, new: str) -> None:
    assert slot_key(old) is not None
    assert slot_key(old) == slot_key(new)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("The user lives in Moscow", "The user's sister lives in Omsk"),
        ("The user's name is Ivan", "The user's sister's name is Anna"),
        ("The user's favourite colour is blue", "The user's favourite film is Solaris"),
    ],
)
def test_different_subjects_or_slots(one: str, other: str) -> None:
    assert slot_key(one) != slot_key(other)


def test_facts_without_a_slot() -> None:
    assert slot_key("The user likes tea") is None


def test_parse_items_keeps_valid_items_and_counts_invalid() -> None:
    raw = """Sure! ```json
    {"facts": [{"text": "The user likes tea", "category": "Preferences", "importance": "4",
                "when": null, "sources": [1]},
               {"text": "", "category": "other", "importance": 3, "when": null, "sources": []},
               {"category": "work"}]}
    ```"""
    items, invalid = parse_items(raw)
    assert invalid == 2
    assert [(i.text, i.category, i.importance) for i in items] == [
        ("The user likes tea", FactCategory.PREFERENCES, 4)
    ]


@pytest.mark.parametrize("raw", ["", "no json here", '{"facts": ', '{"items": []}', "[1, 2]"])
def test_parse_items_rejects_answers_of_the_wrong_shape(raw: str) -> None:
    with pytest.raises(ExtractionOutputError):
        parse_items(raw)


def test_bson_vectors_round_trip() -> None:
    vector = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    stored = to_bson(vector)
    assert isinstance(stored, Binary) and stored.subtype == 9
    assert np.array_equal(from_bson(stored), vector)
    assert np.array_equal(from_bson([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32))


def test_packaged_model_resolves_to_the_directory_inside_the_package() -> None:
    path = Path(resolve_model("packaged-minilm"))
    assert (path / "config.json").exists() and (path / "modules.json").exists()
    assert resolve_model("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"


def test_vector_search_pipeline_shape() -> None:
    vector = np.full(4, 0.5, dtype=np.float32)
    pipeline = vector_search_pipeline(
        index_name="memory_vectors",
        vector=vector,
        user_id=42,
        limit=20,
        scope_field="persona_id",
        scope="anna",
    )
    stage = pipeline[0]["$vectorSearch"]
    assert stage["index"] == "memory_vectors" and stage["path"] == "vector"
    assert stage["limit"] == 20 and stage["numCandidates"] >= 200
    assert stage["filter"] == {"$and": [{"user_id": 42}, {"persona_id": "anna"}]}
    assert np.array_equal(from_bson(stage["queryVector"]), vector)
    assert pipeline[1] == {"$project": {"_id": 1, "score": {"$meta": "vectorSearchScore"}}}
    plain = vector_search_pipeline(index_name="i", vector=vector, user_id=7, limit=5)
    assert plain[0]["$vectorSearch"]["filter"] == {"user_id": 7}
