"""Questions across languages: a Russian question finds what was said in English, and back,
once the embedder's offset between the languages is taken out (`companion.memory.languages`)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from companion.memory.evalset import load_set
from companion.memory.evaluation import Evaluator, embed_set
from companion.memory.languages import (
    EN,
    RU,
    UNKNOWN,
    LanguageMeans,
    language_of,
    reference_sentences,
    shift_across_languages,
)
from companion.memory.records import InMemoryRecordSource
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig
from tests.unit.memory.fakes import DIMENSION, HashingEmbedder, _vector
from tests.unit.memory.test_retriever import NOW, USER, rec

# What a multilingual embedder does, in small: the meaning of a word is shared by its
# translations (a tiny dictionary maps the Russian words of these tests onto English ones),
# and every text also carries a direction of its own language.
_TRANSLATIONS = {
    "собаку": "dog",
    "собака": "dog",
    "приюта": "shelter",
    "приюте": "shelter",
    "взял": "adopted",
    "борзую": "greyhound",
    "связки": "ligament",
    "порвал": "tore",
    "тренировке": "training",
    "тренировка": "training",
}
_RNG = np.random.default_rng(5)
_ACCENTS = {code: _RNG.standard_normal(DIMENSION).astype(np.float32) for code in (EN, RU)}
for _code, _accent in _ACCENTS.items():
    _ACCENTS[_code] = _accent / np.linalg.norm(_accent)


def _accented(text: str) -> np.ndarray:
    meaning = " ".join(_TRANSLATIONS.get(w, w) for w in re.findall(r"\w+", text.lower()))
    vector = _vector(meaning) + _ACCENTS.get(language_of(text), np.zeros(DIMENSION))
    return (vector / np.linalg.norm(vector)).astype(np.float32)


class AccentedEmbedder(HashingEmbedder):
    """Shared meaning across languages plus a language direction, like multilingual-e5."""

    model_id = "accented-test"

    async def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([_accented(t) for t in texts])

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([_accented(t) for t in texts])


HISTORY = [
    rec("dog-en", "I adopted a three-legged greyhound from the shelter"),
    rec("ru-1", "Вчера ходили с друзьями в кино, фильм так себе"),
    rec("ru-2", "На работе опять аврал, начальник требует отчёт"),
    rec("ru-3", "Мама звонила, зовёт на дачу в выходные"),
    rec("knee-ru", "Порвал связки на тренировке, теперь месяц в ортезе"),
    rec("en-1", "We watched the football match at a bar downtown"),
    rec("en-2", "My boss wants the quarterly report by Monday"),
]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Где я работаю?", RU),
        ("Where do I work?", EN),
        ("Встреча в Starbucks завтра в десять", RU),
        ("Meeting at кафе Pushkin on Friday", EN),
        ("12:30 !!!", UNKNOWN),
        ("", UNKNOWN),
    ],
)
def test_language_is_told_by_the_script_of_most_letters(text: str, code: int) -> None:
    assert language_of(text) == code


def test_the_reference_has_sentences_in_both_languages_and_in_their_script() -> None:
    sentences = reference_sentences()
    assert set(sentences) == {EN, RU}
    for code, texts in sentences.items():
        assert len(texts) >= 32
        assert sum(language_of(t) == code for t in texts) >= 0.9 * len(texts)


def test_the_shift_moves_only_rows_in_another_language() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((6, 8)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = matrix[0] + 0.1
    query /= np.linalg.norm(query)
    languages = np.array([RU, RU, EN, EN, UNKNOWN, RU], dtype=np.int8)
    means = {RU: rng.standard_normal(8).astype(np.float32), EN: rng.standard_normal(8)}
    plain = matrix @ query
    shifted = shift_across_languages(plain, languages, query, RU, means, 1.0)
    same = languages != EN
    assert np.array_equal(shifted[same], plain[same])
    for row in (2, 3):  # the row's cosine less its language's mean's, plus the question's
        expected = (matrix[row] - means[EN] + means[RU]) @ query
        assert shifted[row] == pytest.approx(float(expected), abs=1e-5)
    assert np.array_equal(shift_across_languages(plain, languages, query, RU, means, 0.0), plain)
    assert np.array_equal(
        shift_across_languages(plain, languages, query, UNKNOWN, means, 1.0), plain
    )


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Какую собаку я взял из приюта?", "dog-en"),
        ("What did I tear at training?", "knee-ru"),
    ],
)
async def test_a_question_finds_what_was_said_in_the_other_language(
    question: str, answer: str
) -> None:
    found = {}
    for shift in (0.0, 1.0):
        config = RetrieverConfig(language_shift=shift)
        retriever = Retriever(AccentedEmbedder(), InMemoryRecordSource(), config=config)
        await retriever.index(USER, HISTORY)
        await retriever.languages.get()  # measured from the shipped reference sentences
        found[shift] = [hit.id for hit in await retriever.search(USER, question, 3, now=NOW)]
    assert found[1.0][0] == answer
    # Without the shift the question's own language wins over the answer.
    assert found[0.0][0] != answer


async def test_a_history_in_one_language_never_measures_the_means() -> None:
    embedder = AccentedEmbedder()
    retriever = Retriever(embedder, InMemoryRecordSource())
    await retriever.index(USER, [r for r in HISTORY if language_of(r.text) == RU])
    calls = embedder.calls
    hits = await retriever.search(USER, "Куда зовёт мама на выходные?", 2, now=NOW)
    assert hits[0].id == "ru-3"
    await asyncio.sleep(0.05)  # time for a measuring in the background, had one started
    assert embedder.calls == calls + 1  # the question only


class SlowReferenceEmbedder(AccentedEmbedder):
    """Embeds the reference sentences only once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.reference = {t for texts in reference_sentences().values() for t in texts}

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if any(t in self.reference for t in texts):
            await self.release.wait()
        return await super().embed_passages(texts)


async def test_a_search_does_not_wait_for_the_means_and_uses_them_once_measured() -> None:
    embedder = SlowReferenceEmbedder()
    retriever = Retriever(embedder, InMemoryRecordSource())
    await retriever.index(USER, HISTORY)
    question = "Какую собаку я взял из приюта?"
    first = await asyncio.wait_for(retriever.search(USER, question, 3, now=NOW), 5)
    assert first and first[0].id != "dog-en"  # ranked at once, without the shift
    embedder.release.set()
    await retriever.languages.get()
    again = await retriever.search(USER, question, 3, now=NOW)
    assert again[0].id == "dog-en"
    await retriever.aclose()


class BrokenReferenceEmbedder(AccentedEmbedder):
    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) > 1:  # the reference comes in batches; records here one at a time
            raise RuntimeError("model went away")
        return await super().embed_passages(texts)


async def test_means_that_cannot_be_measured_leave_search_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    retriever = Retriever(BrokenReferenceEmbedder(), InMemoryRecordSource())
    for record in HISTORY:
        await retriever.index(USER, [record])
    assert await retriever.languages.get() == {}
    hits = await retriever.search(USER, "Какую собаку я взял из приюта?", 3, now=NOW)
    assert len(hits) == 3
    assert "language means" in caplog.text


async def test_given_means_are_used_without_the_embedder() -> None:
    measured = await LanguageMeans(AccentedEmbedder()).get()
    means = LanguageMeans(means=measured)
    assert set(means.ready()) == {EN, RU}
    assert all(np.array_equal(means.ready()[c], measured[c]) for c in measured)


class NoCallsEmbedder(AccentedEmbedder):
    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("everything should come from the cache")

    async def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("everything should come from the cache")


async def test_an_evaluation_measures_the_means_once_and_ranks_with_them(tmp_path: Path) -> None:
    turns = []
    for n, record in enumerate(HISTORY):
        at = (NOW - timedelta(days=len(HISTORY) - n)).isoformat()
        turns += [
            {"id": record.id, "role": "user", "text": record.text, "at": at},
            {"id": f"{record.id}/reply", "role": "assistant", "text": "", "at": at},
        ]
    data = {
        "users": [{"user_id": 1, "sessions": [{"turns": turns}]}],
        "questions": [
            {
                "user_id": 1,
                "question": "Какую собаку я взял из приюта?",
                "type": "cross",
                "evidence": ["dog-en"],
                "asked_at": NOW.isoformat(),
            }
        ],
    }
    path = tmp_path / "set.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    evalset = load_set(path)
    vectors = await embed_set(evalset, AccentedEmbedder(), "accented", tmp_path)
    assert vectors.languages is not None and set(vectors.languages) == {EN, RU}
    again = await embed_set(evalset, NoCallsEmbedder(), "accented", tmp_path)
    assert again.languages is not None
    assert all(np.array_equal(again.languages[c], vectors.languages[c]) for c in (EN, RU))
    evaluator = Evaluator(evalset, again)
    ranked = await evaluator.hybrid(RetrieverConfig())
    assert ranked["hybrid"][0][0] == "dog-en"
    # The plain cosine (the dense baseline) puts a Russian record first.
    assert evaluator.baselines(["dense"])["dense"][0][0] != "dog-en"
