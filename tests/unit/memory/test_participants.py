"""The names of the two people talking are left out of what memory is asked: they find the
records where someone was greeted, not the ones the message is about."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from companion.domain.models import User
from companion.domain.personas import Persona
from companion.memory.evalset import load_set
from companion.memory.evaluation import Evaluator, embed_set
from companion.memory.participants import name_variants, participant_names, without_names
from companion.memory.records import InMemoryRecordSource
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig
from tests.unit.memory.fakes import HashingEmbedder
from tests.unit.memory.test_retriever import NOW, USER, rec


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        (
            "Лео, помнишь, что я говорила про сестру?",
            ["Лео"],
            "помнишь, что я говорила про сестру?",
        ),
        (
            "When did Caroline go to the support group?",
            ["Caroline", "Melanie"],
            "When did go to the support group?",
        ),
        ("What is Caroline's pet called?", ["Caroline"], "What is pet called?"),
        ("Спасибо, что выслушал, Лёва!", ["Лёва"], "Спасибо, что выслушал!"),
        # Only whole words: "Лео" is not taken out of "Леонидом", "Max" not out of "maximum".
        ("Я гулял в лесу с Леонидом", ["Лео"], "Я гулял в лесу с Леонидом"),
        ("What is the maximum heart rate?", ["Max"], "What is the maximum heart rate?"),
        # Nothing but a name: the message as it is (recall asks something, not nothing).
        ("Лео!", ["Лео"], "Лео!"),
        ("Where does my sister live?", [], "Where does my sister live?"),
    ],
)
def test_the_names_are_taken_out_as_whole_words(text: str, names: list[str], expected: str) -> None:
    assert without_names(text, names) == expected


def card(names: dict[str, str]) -> Persona:
    """A persona with these names (language -> name) and nothing else of note."""
    return Persona.model_validate(
        {
            "id": "persona",
            "name": names,
            "module": "support",
            "languages": list(names),
            "preview": "-",
            **dict.fromkeys(("description", "personality", "speaking_style", "scenario"), "-"),
            "greetings": {language: ["Hi"] for language in names},
        }
    )


def test_the_persona_is_named_in_every_case_and_the_user_by_first_name() -> None:
    persona = card({"ru": "Лев", "en": "Leo"})
    names = participant_names(User(id=1, first_name="Мария"), persona)
    assert {"Лев", "Льва", "Львом", "Leo", "Мария", "Марию", "Марией"} <= set(names)
    text = "Лев, я рассказывала Льву про Марию? Ответь Марии"
    assert without_names(text, names) == "я рассказывала про? Ответь"


def test_each_long_word_of_a_two_word_name_counts_on_its_own() -> None:
    persona = card({"en": "Sherlock Holmes"})
    names = participant_names(User(id=1, first_name="Nova Ray"), persona)
    assert {"Sherlock Holmes", "Sherlock", "Holmes", "Nova"} <= set(names)
    assert "Ray" not in names
    assert without_names("Holmes, what did I say about my ray of hope?", names) == (
        "what did I say about my ray of hope?"
    )


HISTORY = [
    rec("hi-1", "Hey Melanie! Good to see you!\nHi Caroline, good to see you too!", 30),
    rec("hi-2", "Hey Melanie! How was your week?\nBusy, Caroline, busy!", 20),
    rec("hi-3", "Morning, Melanie!\nMorning, Caroline! Coffee?", 10),
    rec("group", "I went to a support group yesterday, it was powerful.\nThat's great!", 25),
    rec("paint", "I painted a sunrise over the lake last weekend.\nLovely!", 15),
]


async def test_a_speaker_named_in_the_question_no_longer_finds_the_greetings() -> None:
    question = "What did Caroline tell Melanie about the group?"
    asked = without_names(question, ["Caroline", "Melanie"])
    # The embedder alone: the names pull up the exchanges where the two greet each other.
    dense_only = RetrieverConfig(dense_weight=1.0, lexical_weight=0.0)
    retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=dense_only)
    await retriever.index(USER, HISTORY)
    assert (await retriever.search(USER, question, 3, now=NOW))[0].id.startswith("hi-")
    assert (await retriever.search(USER, asked, 3, now=NOW))[0].id == "group"
    retriever = Retriever(HashingEmbedder(), InMemoryRecordSource())
    await retriever.index(USER, HISTORY)
    assert (await retriever.search(USER, asked, 3, now=NOW))[0].id == "group"


async def test_an_evaluation_asks_without_the_names_its_set_gives(tmp_path: Path) -> None:
    turns = []
    for record in HISTORY:
        user_text, reply = record.text.split("\n")
        at = (NOW - timedelta(days=1)).isoformat()
        turns += [
            {"id": record.id, "role": "user", "text": user_text, "at": at},
            {"id": f"{record.id}/reply", "role": "assistant", "text": reply, "at": at},
        ]
    question = {
        "user_id": 1,
        "question": "What did Caroline tell Melanie about the group?",
        "type": "single-hop",
        "evidence": ["group"],
        "asked_at": NOW.isoformat(),
    }
    data = {
        "users": [{"user_id": 1, "sessions": [{"turns": turns}], "names": ["Caroline", "Melanie"]}],
        "questions": [question],
    }
    path = tmp_path / "dialogue.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    evalset = load_set(path)
    assert evalset.questions[0].text == question["question"]  # the baselines' text
    assert evalset.questions[0].recall_text == "What did tell about the group?"
    assert name_variants(["Ольга", "Caroline"]) == sorted(
        ["Caroline", "Ольга", "Ольги", "Ольге", "Ольгу", "Ольгой"]
    )
    vectors = await embed_set(evalset, HashingEmbedder(), "hashing", tmp_path)
    evaluator = Evaluator(evalset, vectors)
    ranked = await evaluator.hybrid(RetrieverConfig())
    assert ranked["hybrid"][0][0] == "group"
    assert evaluator.baselines(["dense"])["dense"][0][0].startswith("hi-")
