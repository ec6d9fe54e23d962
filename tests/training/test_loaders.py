from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.training.conftest import SAMPLES, write_jsonl
from training.config import SourceConfig, SourceKind
from training.data.loaders import (
    SourceError,
    load_oasst_trees,
    load_openai_messages,
    load_persona_dialogues,
    load_sharegpt,
    oasst_threads,
    resolve_placeholders,
)
from training.data.personas import PersonaCardError, load_persona_cards, select_personas
from training.data.records import Role


def source(kind: SourceKind, path: Path, **extra: object) -> SourceConfig:
    return SourceConfig(name=f"s-{kind.value}", kind=kind, path=path, license="CC0-1.0", **extra)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_openai_messages_sample() -> None:
    path = SAMPLES / "openai_messages.jsonl"
    loaded = load_openai_messages(source(SourceKind.OPENAI_MESSAGES, path))
    rows = _lines(path)
    assert loaded.records == len(rows)
    assert len(loaded.examples) == len(rows)
    for example, row in zip(loaded.examples, rows, strict=True):
        assert [t.role.value for t in example.messages] == [m["role"] for m in row["messages"]]
        assert example.messages[-1].content == row["messages"][-1]["content"]
    assert loaded.files == [path]


def test_sharegpt_sample_maps_roles() -> None:
    path = SAMPLES / "sharegpt.jsonl"
    loaded = load_sharegpt(source(SourceKind.SHAREGPT, path))
    rows = _lines(path)
    assert len(loaded.examples) == len(rows)
    mapping = {"human": "user", "gpt": "assistant", "system": "system"}
    for example, row in zip(loaded.examples, rows, strict=True):
        expected = [mapping[m["from"]] for m in row["conversations"]]
        assert [t.role.value for t in example.messages] == expected


def test_malformed_records_are_skipped_with_reasons(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hey"}]},
            {"conversations": [{"from": "robot", "value": "x"}]},
            {
                "conversations": [
                    {"from": "gpt", "value": "I start"},
                    {"from": "human", "value": "?"},
                ]
            },
            {
                "conversations": [
                    {"from": "human", "value": "a"},
                    {"from": "human", "value": "b"},
                    {"from": "gpt", "value": "c"},
                ]
            },
            {"conversations": [{"from": "human", "value": "  "}, {"from": "gpt", "value": "c"}]},
            {"conversations": "nope"},
            # A trailing user turn is dropped, the rest is kept.
            {
                "conversations": [
                    {"from": "human", "value": "q"},
                    {"from": "gpt", "value": "a"},
                    {"from": "human", "value": "dangling"},
                ]
            },
        ],
    )
    loaded = load_sharegpt(source(SourceKind.SHAREGPT, path))
    assert len(loaded.examples) == 2
    assert loaded.examples[1].messages[-1].content == "a"
    assert loaded.skipped == {
        "unknown role 'robot'": 1,
        "does not start with a user turn": 1,
        "roles do not alternate": 1,
        "empty turn": 1,
        "no message list": 1,
    }


def test_not_json_lines_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": []}\nthis is not json\n')
    with pytest.raises(SourceError, match=r"bad\.jsonl:2"):
        load_openai_messages(source(SourceKind.OPENAI_MESSAGES, path))
    with pytest.raises(SourceError, match="no such file"):
        load_openai_messages(source(SourceKind.OPENAI_MESSAGES, tmp_path / "none.jsonl"))


def _msg(mid: str, role: str, text: str, rank: int | None = None, replies=(), **kw):
    return {
        "message_id": mid,
        "role": role,
        "text": text,
        "lang": "en",
        "rank": rank,
        "replies": list(replies),
        **kw,
    }


def test_oasst_threads_every_path_and_best_only() -> None:
    tree = _msg(
        "p",
        "prompter",
        "Q?",
        replies=[
            _msg("a1", "assistant", "second best", rank=1),
            _msg(
                "a0",
                "assistant",
                "best",
                rank=0,
                replies=[
                    _msg(
                        "p2", "prompter", "more?", replies=[_msg("a2", "assistant", "sure", rank=0)]
                    ),
                ],
            ),
            _msg("a3", "assistant", "deleted", rank=2, deleted=True),
            _msg("a4", "assistant", "rejected", rank=3, review_result=False),
        ],
    )
    threads = [[m["message_id"] for m in t] for t in oasst_threads(tree, best_only=False)]
    assert threads == [["p", "a1"], ["p", "a0", "p2", "a2"]]
    best = [[m["message_id"] for m in t] for t in oasst_threads(tree, best_only=True)]
    assert best == [["p", "a0", "p2", "a2"]]


def test_oasst_sample_file(tmp_path: Path) -> None:
    path = SAMPLES / "oasst_trees.jsonl"
    trees = _lines(path)
    everything = load_oasst_trees(source(SourceKind.OASST_TREES, path))
    best = load_oasst_trees(source(SourceKind.OASST_TREES, path, best_only=True))
    assert everything.records == best.records == len(trees)
    assert len(best.examples) == len(trees)  # one thread per tree
    expected = sum(len(oasst_threads(t["prompt"], best_only=False)) for t in trees)
    assert len(everything.examples) == expected > len(best.examples)
    for example in everything.examples:
        assert example.messages[0].role is Role.USER
        assert example.messages[-1].role is Role.ASSISTANT
        assert "spam spam" not in example.dialogue_text()
        assert "Rejected by reviewers." not in example.dialogue_text()
    assert {e.language for e in everything.examples} == {"en", "ru", "es"}


def test_persona_dialogues_resolve_placeholders() -> None:
    cards = load_persona_cards(SAMPLES / "personas")
    names = {"en": ["Robin"], "ru": ["Лена"]}
    loaded = load_persona_dialogues(
        source(SourceKind.PERSONA_CARDS, SAMPLES / "personas"), cards, names
    )
    expected = sum(len(p.example_dialogues) for p in cards.values())
    assert len(loaded.examples) == loaded.records == expected
    texts = " ".join(e.dialogue_text() for e in loaded.examples)
    assert "{{" not in texts
    assert "Hi Robin." in texts and "Привет, Лена." in texts
    assert "I'm Max, the one who remembers" in texts
    assert {e.persona_id for e in loaded.examples} == {"mila", "max"}
    assert resolve_placeholders("{{ USER }} & {{Char}}", user="u", char="c") == "u & c"


def test_persona_cards_errors(tmp_path: Path) -> None:
    cards = load_persona_cards(SAMPLES / "personas")
    with pytest.raises(PersonaCardError, match="nobody"):
        select_personas(cards, ["nobody"])
    (tmp_path / "bad.yaml").write_text("id: Bad Id\nname: x\n")
    with pytest.raises(PersonaCardError, match=r"bad\.yaml: .*id"):
        load_persona_cards(tmp_path)
