"""The training script's output read back by the shipped reader gives scikit-learn's numbers.

The reader re-implements TF-IDF and the folded word scores in numpy; this fits a tiny model
(random word vectors, a few dozen sentences) and compares probabilities on unseen texts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from companion.mood.classifier import FORMAT, LinearEmotionReader, decide_labels, is_latin
from companion.mood.classifier_data import LABELS, LabelledText, is_holdout
from companion.mood.classifier_features import Lemmatizer, normalize
from companion.mood.emotions import Emotion
from training.mood.nb_scaling import ScaledLogistic
from training.mood.train_emotions import (
    LemmaView,
    Trainer,
    _joint_negative,
    _negative_f1,
    _write,
    training_rows,
)

SENTENCES = {
    Emotion.JOY: ["Ура, я так рада!", "Какой чудесный день)))", "I am so happy today"],
    Emotion.SADNESS: ["Мне грустно и одиноко", "Плачу весь вечер((", "I miss her, so sad"],
    Emotion.SURPRISE: ["Ничего себе, вот это да!", "Неужели правда?", "Wow, really?"],
    Emotion.FEAR: ["Мне страшно идти туда", "Боюсь темноты", "I am scared of dogs"],
    Emotion.ANGER: ["Бесит эта очередь!", "Я в ярости", "I hate liars, so angry"],
}
NEUTRAL = ["Поезд в десять", "Купи хлеба", "The shop opens at nine", "Отчет готов"]


def _rows() -> list[LabelledText]:
    rows = [
        LabelledText(f"{text} {suffix}", frozenset({label}))
        for label, texts in SENTENCES.items()
        for text in texts
        for suffix in ("", "сегодня", "again")
    ]
    return rows + [LabelledText(text, frozenset()) for text in NEUTRAL * 3]


def test_reader_reproduces_sklearn_probabilities(tmp_path: Path) -> None:
    lemmatizer = Lemmatizer()
    words = sorted({"грустно", "рада", "страшно", "ярость", "happy", "sad", "angry", "день"})
    vectors = np.random.default_rng(0).normal(size=(len(words), 16)).astype(np.float32)
    trainer = Trainer(_rows(), LemmaView(words, vectors, lemmatizer), negative_head=True)
    # The any-negative column's n-grams are NB-scaled; the scale is folded into the file.
    trainer.nb_columns = (len(LABELS),)
    for name, features, weight in (
        ("with-words", "char", 2.0),
        ("with-lemma-ngrams", "char+lemma", 2.0),
        ("words-only", "word", 0.0),
    ):
        arrays = trainer.fit(features, 4.0, weight)
        latin = weight > 0
        if latin:
            arrays |= trainer.fit_words(4.0, 4.0)
        meta = {
            "format": FORMAT,
            "name": name,
            "labels": [label.value for label in LABELS],
            "features": features,
            "lemma_table": "lemma_scores" in arrays,
            "negative_head": True,
            "thresholds": [0.5] * (len(LABELS) + 1),
            **({"latin_thresholds": [0.4] * (len(LABELS) + 1)} if latin else {}),
        }
        meta_path, _ = _write(tmp_path, name, arrays, meta)
        reader = LinearEmotionReader.load(meta_path)
        assert reader.info.lemma_table == (weight > 0)
        unseen = ["Мне так грустно сегодня", "happy happy day!!!", "Купи молока", "", "ярость"]
        expected = trainer.probabilities(unseen)
        if latin:  # English goes to the word-scores-only head
            english = [is_latin(normalize(text)) for text in unseen]
            assert english == [False, True, False, False, False]
            expected[english] = trainer.words_probabilities(unseen)[english]
        actual = np.stack([reader.probabilities(text) for text in unseen])
        assert actual.shape == (len(unseen), len(LABELS) + 1)
        np.testing.assert_allclose(actual, expected, atol=2e-5)
        # Separable toy data: the model must also be right, not only consistent.
        assert reader.read(["Мне грустно и одиноко"])[0].labels == {Emotion.SADNESS}
        saved = json.loads(meta_path.read_text(encoding="utf-8"))
        assert saved["labels"] == ["joy", "sadness", "surprise", "fear", "anger"]


def test_negative_head_adds_the_likeliest_negative_label_only_when_none_passes() -> None:
    thresholds = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    #              joy  sad  surp fear anger | negative head
    assert decide_labels([0.1, 0.3, 0.1, 0.4, 0.2, 0.7], thresholds) == {Emotion.FEAR}
    assert decide_labels([0.6, 0.3, 0.1, 0.4, 0.2, 0.7], thresholds) == {Emotion.JOY, Emotion.FEAR}
    # A negative label already passes: nothing is added.
    assert decide_labels([0.1, 0.6, 0.1, 0.4, 0.2, 0.9], thresholds) == {Emotion.SADNESS}
    # The head below its threshold changes nothing, nor does it remove labels.
    assert decide_labels([0.1, 0.3, 0.1, 0.4, 0.2, 0.4], thresholds) == set()
    assert decide_labels([0.1, 0.3, 0.1, 0.4, 0.9, 0.1], thresholds) == {Emotion.ANGER}
    # Without a head (five columns, the baseline) only thresholds decide.
    assert decide_labels([0.1, 0.3, 0.1, 0.4, 0.2], thresholds[:5]) == set()


def test_joint_tuning_targets_the_per_message_negative_decision() -> None:
    # Sadness alone separates the negative messages, at 0.38 rather than the starting 0.5;
    # the head (column 5) is noise and is best switched off.
    rng = np.random.default_rng(1)
    rows = 400
    negative = rng.random(rows) < 0.4
    probabilities = rng.uniform(0.0, 0.25, size=(rows, 6)).astype(np.float32)
    probabilities[negative, 1] = rng.uniform(0.38, 0.5, size=int(negative.sum()))
    probabilities[:, 5] = rng.uniform(0.0, 0.6, size=rows)
    targets = np.zeros((rows, 6), dtype=np.int_)
    targets[negative, 1] = 1
    targets[:, 5] = negative
    start = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    tuned = _joint_negative(probabilities, targets, start)
    assert _negative_f1(probabilities, targets, tuned) == 1.0
    assert _negative_f1(probabilities, targets, start) < 0.5
    assert tuned[0] == start[0] and tuned[2] == start[2]  # joy and surprise are left alone
    assert tuned[1] == tuned[3] == tuned[4] < 0.5  # the negative labels move together
    assert tuned[5] >= 0.6  # the noisy head no longer fires


def test_training_rows_are_the_fit_split_unless_all_rows_are_asked_for() -> None:
    rows = [LabelledText(f"предложение номер {i}", frozenset()) for i in range(200)]
    fit_only = training_rows(rows, all_rows=False)
    every = training_rows(rows, all_rows=True)
    assert not any(is_holdout(row.text) for row in fit_only)
    assert 0 < len(fit_only) < len(rows)
    assert every[: len(fit_only)] == fit_only
    assert sorted(row.text for row in every) == sorted(row.text for row in rows)


def test_nb_scaling_folds_into_the_coefficients() -> None:
    rng = np.random.default_rng(3)
    features = sparse.random(60, 12, density=0.3, random_state=4, format="csr")
    dense = rng.normal(size=(60, 3))
    design = sparse.hstack([features, sparse.csr_matrix(dense)]).tocsr()
    targets = (np.asarray(features[:, 0].todense()).ravel() + dense[:, 0] > 0.3).astype(int)
    model = ScaledLogistic(LogisticRegression(C=4.0, solver="liblinear"), 12, 1.0)
    model.fit(design, targets)
    assert model.scale.shape == (15,) and np.all(model.scale[12:] == 1.0)
    logits = design @ model.coef_[0] + model.intercept_[0]
    expected = model.predict_proba(design)[:, 1]
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-logits)), expected, rtol=1e-5, atol=1e-6)
