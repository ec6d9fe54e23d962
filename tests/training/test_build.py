from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from companion.dialogs.prompts import PromptBuilder, SystemPromptContext
from tests.training.conftest import SAMPLES, make_config
from training.data.build import DatasetBuilder, DatasetBuildError, read_examples
from training.data.conditioning import BotSystemPrompt
from training.data.filters import content_key
from training.data.personas import load_persona_cards
from training.data.records import Role
from training.tokenization import ChatEncoder


def build(tmp_path: Path, tokenizer: Any, **overrides: Any) -> Any:
    config = make_config(tmp_path / "model", tmp_path / "out", **overrides)
    encoder = ChatEncoder(tokenizer, config.data.max_seq_len)
    builder = DatasetBuilder(
        config, lambda e: encoder.count_tokens(e.chat()), renderer=BotSystemPrompt()
    )
    return config, builder.build()


def test_manifest_counts_licenses_and_hashes(tmp_path: Path, tokenizer: Any) -> None:
    config, built = build(tmp_path, tokenizer)
    manifest = json.loads(built.manifest_path.read_text())
    assert manifest == built.manifest
    for name, path in (("train.jsonl", built.train_path), ("eval.jsonl", built.eval_path)):
        assert manifest["outputs"][name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert manifest["outputs"][name]["examples"] == len(path.read_text().splitlines())
    for source in manifest["sources"]:
        for entry in source["files"]:
            assert entry["sha256"] == hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
    by_name = {s["name"]: s for s in manifest["sources"]}
    assert by_name["sample-oasst"]["license"] == "Apache-2.0"
    assert by_name["sample-oasst"]["dropped"] == {"language": 1}  # the Spanish tree
    counts = manifest["counts"]
    assert counts["loaded"] == sum(s["examples_kept"] for s in manifest["sources"])
    # The samples repeat some dialogues across files (one only differs in case and spacing).
    assert counts["loaded"] > counts["after_dedup"] >= counts["after_length_filter"]
    assert counts["train"] + counts["eval"] == counts["after_length_filter"]
    assert counts["eval"] >= 1
    assert manifest["tokens"]["max"] <= config.data.max_seq_len
    assert set(manifest["languages"]) == {"en", "ru"}


def test_rebuild_gives_identical_files(tmp_path: Path, tokenizer: Any) -> None:
    _, first = build(tmp_path / "a", tokenizer)
    _, second = build(tmp_path / "b", tokenizer)
    assert first.train_path.read_bytes() == second.train_path.read_bytes()
    assert first.eval_path.read_bytes() == second.eval_path.read_bytes()


def test_persona_conditioning_uses_the_bots_system_prompt(tmp_path: Path, tokenizer: Any) -> None:
    _, built = build(tmp_path, tokenizer)
    examples = read_examples(built.train_path) + read_examples(built.eval_path)
    cards = load_persona_cards(SAMPLES / "personas")
    builder = PromptBuilder()
    conditioned = [e for e in examples if e.persona_id is not None]
    sources = {e.source for e in conditioned}
    assert sources == {"sample-openai", "persona-cards"}
    for example in conditioned:
        assert example.persona_id is not None
        persona = cards[example.persona_id]
        assert example.language in persona.languages
        expected = builder.render_system(
            SystemPromptContext(persona=persona, language=example.language)
        )
        assert example.messages[0].role is Role.SYSTEM
        assert example.messages[0].content == expected
        assert sum(t.role is Role.SYSTEM for t in example.messages) == 1
    # Russian examples can only go to Mila (Max speaks English only).
    assert {e.persona_id for e in conditioned if e.language == "ru"} == {"mila"}
    # Unconditioned sources keep their own system prompt.
    plain = [e for e in examples if e.source == "sample-sharegpt"]
    assert plain and all(e.persona_id is None for e in plain)


def test_length_filter_and_language_selection(tmp_path: Path, tokenizer: Any) -> None:
    _, built = build(tmp_path, tokenizer, **{"data.languages": ["ru"], "data.max_seq_len": 200})
    examples = read_examples(built.train_path) + read_examples(built.eval_path)
    encoder = ChatEncoder(tokenizer, 10_000)
    assert examples and all(e.language == "ru" for e in examples)
    assert all(encoder.count_tokens(e.chat()) <= 200 for e in examples)
    # Conditioned examples carry a long system prompt and do not fit in 200 tokens.
    assert all(e.persona_id is None for e in examples)
    assert len({content_key(e) for e in examples}) == len(examples)


def test_nothing_left_is_a_clear_error(tmp_path: Path, tokenizer: Any) -> None:
    with pytest.raises(DatasetBuildError, match="no examples left"):
        build(tmp_path, tokenizer, **{"data.max_seq_len": 16})


def test_conditioning_without_a_personas_dir_is_a_clear_error(
    tmp_path: Path, tokenizer: Any
) -> None:
    with pytest.raises(DatasetBuildError, match="personas_dir is not set"):
        build(tmp_path, tokenizer, **{"data.personas_dir": None})


def test_persona_cards_source_alone_is_enough(tmp_path: Path, tokenizer: Any) -> None:
    cards_only = [
        {
            "name": "cards",
            "kind": "persona_cards",
            "path": str(SAMPLES / "personas"),
            "license": "LicenseRef-Proprietary",
        }
    ]
    _, built = build(
        tmp_path,
        tokenizer,
        **{"data.personas_dir": None, "data.sources": cards_only, "data.personas": ["max"]},
    )
    examples = read_examples(built.train_path) + read_examples(built.eval_path)
    assert len(examples) == 3 and {e.persona_id for e in examples} == {"max"}
