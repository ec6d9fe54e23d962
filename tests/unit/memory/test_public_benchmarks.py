"""The public memory benchmarks (LongMemEval, LoCoMo) convert into the evaluation set, and the
recall benchmark runs on them. The inputs here are tiny, in the published files' exact shape."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from benchmarks.data.convert_public_memory import convert_locomo, convert_longmemeval
from benchmarks.memory_recall import evaluate, exchanges
from companion.memory.evalset import load_set
from companion.memory.evaluation import cache_path, run_eval
from companion.memory.retriever_config import RetrieverConfig
from tests.unit.memory.fakes import HashingEmbedder

FILLER = [
    ("What should I cook tonight?", "Maybe a quick pasta with tomatoes?"),
    ("The weather is awful today.", "Rainy days are good for a book and tea."),
    ("I watched a documentary about whales.", "Whales are fascinating creatures!"),
]
# Small talk around the evidence: the one exchange that answers must rank in the top 5 of 20.
SMALL_TALK = [
    (f"I keep thinking about {topic}.", f"Tell me more about {topic}!")
    for topic in (
        "my sister's wedding plans",
        "the new job at the bank",
        "learning to play the guitar",
        "our trip to the mountains",
        "the book club meeting",
        "my grandmother's garden",
        "running a half marathon",
        "the broken washing machine",
        "buying a new laptop",
        "the neighbours' loud party",
        "my fear of flying",
        "painting the kitchen blue",
        "a yoga class downtown",
        "the football match on Sunday",
        "saving money for a car",
    )
]


def _lme_session(pairs: list[tuple[str, str]], answer_turn: int | None = None) -> list[Any]:
    turns: list[dict[str, Any]] = []
    for user, assistant in pairs:
        turns.append({"role": "user", "content": user})
        turns.append({"role": "assistant", "content": assistant})
    if answer_turn is not None:
        turns[answer_turn]["has_answer"] = True
    return turns


def longmemeval() -> list[dict[str, Any]]:
    evidence = [("By the way, my new puppy is a corgi named Biscuit.", "Biscuit is adorable!")]
    return [
        {
            "question_id": "q-1",
            "question_type": "single-session-user",
            "question": "What breed is my dog?",
            "answer": "A corgi",
            "question_date": "2023/06/01 (Thu) 10:00",
            "haystack_session_ids": ["s-a", "s-b", "s-c"],
            "haystack_dates": [
                "2023/05/01 (Mon) 09:00",
                "2023/05/10 (Wed) 18:30",
                "2023/05/20 (Sat) 02:21",
            ],
            "haystack_sessions": [
                _lme_session(SMALL_TALK[:8]),
                _lme_session([FILLER[2], *evidence], answer_turn=2),
                _lme_session(SMALL_TALK[8:] + FILLER[:2] + FILLER[2:]),
            ],
            "answer_session_ids": ["s-b"],
        },
        {  # no turn marked: every exchange of the answer session is evidence
            "question_id": "q-2",
            "question_type": "multi-session",
            "question": "What did we talk about?",
            "answer": "Cooking",
            "question_date": "2023/06/01 (Thu) 10:00",
            "haystack_session_ids": ["s-d"],
            "haystack_dates": ["2023/05/01 (Mon) 09:00"],
            "haystack_sessions": [
                [{"role": "assistant", "content": "Hi! How are you?"}, *_lme_session(FILLER)]
            ],
            "answer_session_ids": ["s-d"],
        },
        {
            "question_id": "q-3_abs",
            "question_type": "single-session-user",
            "question": "What is my cat's name?",
            "answer": "You did not mention a cat.",
            "question_date": "2023/06/01 (Thu) 10:00",
            "haystack_session_ids": ["s-e"],
            "haystack_dates": ["2023/05/01 (Mon) 09:00"],
            "haystack_sessions": [_lme_session(FILLER)],
            "answer_session_ids": [],
        },
    ]


def locomo() -> list[dict[str, Any]]:
    return [
        {
            "sample_id": "conv-1",
            "conversation": {
                "speaker_a": "Caroline",
                "speaker_b": "Melanie",
                "session_1_date_time": "1:56 pm on 8 May, 2023",
                "session_1": [
                    {"speaker": "Caroline", "dia_id": "D1:1", "text": "Hey Mel! Long time."},
                    {"speaker": "Melanie", "dia_id": "D1:2", "text": "Hi! How have you been?"},
                    {
                        "speaker": "Caroline",
                        "dia_id": "D1:3",
                        "text": "I went to an LGBTQ support group yesterday, it was powerful.",
                    },
                    {"speaker": "Melanie", "dia_id": "D1:4", "text": "That sounds amazing."},
                ],
                "session_2_date_time": "10:37 am on 27 June, 2023",
                "session_2": [
                    {
                        "speaker": "Melanie",
                        "dia_id": "D2:1",
                        "text": "I painted a lake sunrise last week!",
                        "blip_caption": "a photo of a painting of a sunrise over a lake",
                    },
                    {"speaker": "Caroline", "dia_id": "D2:2", "text": "Wow, it is beautiful."},
                    {"speaker": "Caroline", "dia_id": "D2:3", "text": "I also adopted a cat."},
                ],
            },
            "qa": [
                {
                    "question": "When did Caroline go to the LGBTQ support group?",
                    "answer": "7 May 2023",
                    "evidence": ["D1:3"],
                    "category": 2,
                },
                {
                    "question": "What did Melanie paint?",
                    "answer": "A lake sunrise",
                    "evidence": ["D2:1; D2:2"],
                    "category": 4,
                },
                {
                    "question": "What did Caroline paint?",
                    "adversarial_answer": "A sunrise",
                    "evidence": ["D2:1"],
                    "category": 5,
                },
            ],
        }
    ]


def test_longmemeval_becomes_one_user_per_question_with_turn_level_evidence() -> None:
    data = convert_longmemeval(longmemeval())
    assert [q["type"] for q in data["questions"]] == ["single-session-user", "multi-session"]
    first, second = data["questions"]
    user = next(u for u in data["users"] if u["user_id"] == first["user_id"])
    records = exchanges(user)
    assert len(records) == 8 + 2 + 10
    [evidence] = first["evidence"]
    found = next(r for r in records if r.id == evidence)
    assert found.text.startswith("By the way, my new puppy is a corgi")
    assert "Biscuit is adorable!" in found.text
    assert found.time.isoformat().startswith("2023-05-10T18:3")
    assert first["asked_at"].startswith("2023-06-01T10:00")
    # A session that opens with the assistant: that turn is an exchange of its own; with no
    # marked turn, all of the answer session's exchanges are the evidence.
    other = next(u for u in data["users"] if u["user_id"] == second["user_id"])
    assert len(second["evidence"]) == len(exchanges(other)) == 4
    assert exchanges(other)[0].text == "\nHi! How are you?"


def test_locomo_pairs_the_two_speakers_and_maps_dialogue_ids() -> None:
    data = convert_locomo(locomo())
    [user] = data["users"]
    records = {r.id: r for r in exchanges(user)}
    # Caroline plays the user: D1:1+D1:2, D1:3+D1:4; session 2 opens with Melanie's turn.
    assert list(records) == ["c0-D1:1", "c0-D1:3", "c0-D2:1", "c0-D2:2", "c0-D2:3"]
    assert records["c0-D2:1"].text.startswith("\nI painted a lake sunrise")
    assert "[shares a photo: a photo of a painting" in records["c0-D2:1"].text
    temporal, single = data["questions"]  # the adversarial one is left out
    assert (temporal["type"], temporal["evidence"]) == ("temporal", ["c0-D1:3"])
    assert (single["type"], single["evidence"]) == ("single-hop", ["c0-D2:1", "c0-D2:2"])
    assert temporal["asked_at"].startswith("2023-06-28T10:37")
    # The speakers are listed, so recall can leave their names out of the questions.
    assert user["names"] == ["Caroline", "Melanie"]


def test_a_converted_dialogue_asks_the_retriever_without_the_speakers(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(convert_locomo(locomo())), encoding="utf-8")
    question = load_set(path).questions[0]
    assert question.text == "When did Caroline go to the LGBTQ support group?"
    assert question.recall_text == "When did go to the LGBTQ support group?"


async def test_the_recall_benchmark_runs_on_converted_data(tmp_path: Path) -> None:
    path = tmp_path / "lme.json"
    path.write_text(json.dumps(convert_longmemeval(longmemeval())), encoding="utf-8")
    results = await evaluate("packaged-minilm", RetrieverConfig(), path, tmp_path)
    assert len(results["hybrid@5"]["all"]) == 2
    # The corgi question: its one evidence exchange is in the top 5 of 20.
    assert float(np.mean(results["hybrid@5"]["single-session-user"])) == 1.0
    assert float(np.mean(results["dense@5"]["single-session-user"])) == 1.0
    assert set(results["hybrid@10"]) == {"single-session-user", "multi-session", "all"}


async def test_eval_keeps_only_dated_questions_or_only_cached_users(tmp_path: Path) -> None:
    data = convert_longmemeval(longmemeval())
    data["questions"][0]["question"] = "What did we talk about two weeks ago?"
    path = tmp_path / "lme.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    console = Console(file=io.StringIO(), width=200)
    dated_user = data["questions"][0]["user_id"]

    dated = await run_eval(
        path, HashingEmbedder(), "hashing", console, cache_dir=tmp_path, dated_only=True
    )
    assert len(dated["hybrid@5"]["all"]) == 1
    # Only the dated question's user was embedded, so only its question has cached vectors.
    stored = np.load(cache_path("hashing", path, tmp_path))
    assert {name for name in stored.files if name.startswith("u")} == {f"u{dated_user}"}
    cached = await run_eval(
        path, HashingEmbedder(), "hashing", console, cache_dir=tmp_path, cached_only=True
    )
    assert len(cached["hybrid@5"]["all"]) == 1
    whole = await run_eval(path, HashingEmbedder(), "hashing", console, cache_dir=tmp_path)
    assert len(whole["hybrid@5"]["all"]) == 2


def test_a_stretched_set_keeps_the_order_and_ends_where_it_ended(tmp_path: Path) -> None:
    path = tmp_path / "lme.json"
    path.write_text(json.dumps(convert_longmemeval(longmemeval())), encoding="utf-8")
    evalset = load_set(path)
    stretched = evalset.stretched(365)
    for question, moved in zip(evalset.questions, stretched.questions, strict=True):
        before, after = evalset.users[question.user_id], stretched.users[question.user_id]
        assert [r.id for r in after] == [r.id for r in before]
        assert [r.text for r in after] == [r.text for r in before]
        times = [r.time for r in after]
        assert times == sorted(times)
        # The question is asked when it was; the history now starts a year before it.
        assert moved.asked_at == question.asked_at
        assert (moved.asked_at - min(r.time for r in after)).days == 365
        # Spacing is scaled, not reshuffled: shares of the span stay the same.
        span = (question.asked_at - before[0].time).total_seconds()
        share = (before[-1].time - before[0].time).total_seconds() / span
        assert abs((after[-1].time - after[0].time).total_seconds() / (365 * 86400) - share) < 1e-6
