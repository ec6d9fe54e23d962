"""The shipped emotion reader: a linear model over character n-grams and distilled word scores.

One file pair per model in companion/mood/model/: ``NAME.json`` (labels, thresholds, which
features, where it came from) and ``NAME.npz`` (arrays only, opened with
``allow_pickle=False``, so a model file can never run code). Written by
training/mood/train_emotions.py; docs/mood.md has the data, numbers and limits.

Reading one message is a few dictionary look-ups and a small dot product (well under a
millisecond), so the bot can read every message on CPU.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from companion.config import Settings
from companion.mood.classifier_data import LABELS
from companion.mood.classifier_features import (
    Lemmatizer,
    char_ngrams,
    lemma_ngrams,
    normalize,
    word_tokens,
)
from companion.mood.emotions import NEGATIVE, Emotion, EmotionReading
from companion.resources import package_folder

FORMAT = 1
MODEL = "emotions"  # the model the bot uses
BASELINE = "baseline"  # word TF-IDF + logistic regression, for reports beside the model
HEAD = "emotions_e5"  # the sentence head blended with MODEL (companion/mood/sentence_head.py)
# "char+lemma": character n-grams plus a second TF-IDF block of lemma 1-2-grams.
FEATURE_KINDS = frozenset({"char", "word", "char+lemma"})

Array = npt.NDArray[np.float32]


class EmotionModelError(RuntimeError):
    """A model file that is missing, unreadable or of another format."""


def packaged_model_dir() -> Path:
    return package_folder("companion.mood", "model")


def model_paths(name_or_path: str | Path) -> tuple[Path, Path]:
    """(json, npz) of a packaged model name (``emotions``, ``baseline``, ``emotions_e5``) or of
    a path stem."""
    text = str(name_or_path)
    if text in {MODEL, BASELINE, HEAD}:
        stem = packaged_model_dir() / text
    else:
        stem = Path(text)
        if stem.suffix in {".json", ".npz"}:
            stem = stem.with_suffix("")
    return stem.with_suffix(".json"), stem.with_suffix(".npz")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    features: str  # "char", "word" or "char+lemma": the sparse view(s)
    lemma_table: bool  # whether distilled word scores are added
    thresholds: tuple[float, ...]
    description: str
    # Thresholds of the word-scores-only head read for Latin-script messages, if it has one.
    latin_thresholds: tuple[float, ...] | None = None
    # A sixth column: "any negative emotion" as one decision (see `decide_labels`).
    negative_head: bool = False

    @property
    def columns(self) -> int:
        return len(LABELS) + int(self.negative_head)


class LinearEmotionReader:
    """`EmotionReader` over a linear model file (the shipped model or the baseline)."""

    def __init__(self, info: ModelInfo, arrays: dict[str, Any]) -> None:
        self.info = info
        columns = info.columns
        self._block = _SparseBlock(arrays, "", columns)
        self._lemma_block = (
            _SparseBlock(arrays, "lemma_ngram_", columns) if info.features == "char+lemma" else None
        )
        self._intercept: Array = arrays["intercept"].astype(np.float32)
        self._thresholds = np.asarray(info.thresholds, dtype=np.float32)
        shapes_ok = (
            self._block.shapes_ok
            and (self._lemma_block is None or self._lemma_block.shapes_ok)
            and self._intercept.shape == (columns,)
            and self._thresholds.shape == (columns,)
        )
        self._lemma_index: dict[str, int] = {}
        self._lemma_scores: Array = np.zeros((0, columns), dtype=np.float32)
        if info.lemma_table:
            self._lemma_index = {str(w): i for i, w in enumerate(arrays["lemmas"].tolist())}
            self._lemma_scores = arrays["lemma_scores"].astype(np.float32)
            shapes_ok = shapes_ok and self._lemma_scores.shape == (
                len(self._lemma_index),
                columns,
            )
        self._latin: tuple[Array, Array, Array] | None = None
        if info.lemma_table and info.latin_thresholds is not None:
            latin_scores = arrays["latin_lemma_scores"].astype(np.float32)
            self._latin = (
                latin_scores,
                arrays["latin_intercept"].astype(np.float32),
                np.asarray(info.latin_thresholds, dtype=np.float32),
            )
            shapes_ok = (
                shapes_ok
                and latin_scores.shape == self._lemma_scores.shape
                and self._latin[2].shape == (columns,)
            )
        if not shapes_ok:
            raise EmotionModelError(f"model {info.name}: array shapes do not match")
        self._lemmatizer = Lemmatizer()

    @classmethod
    def load(cls, name_or_path: str | Path) -> LinearEmotionReader:
        meta_path, arrays_path = model_paths(name_or_path)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(arrays_path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except (OSError, ValueError) as exc:
            raise EmotionModelError(f"cannot load emotion model {name_or_path}: {exc}") from exc
        if meta.get("format") != FORMAT or meta.get("features") not in FEATURE_KINDS:
            raise EmotionModelError(f"{meta_path}: not an emotion model of format {FORMAT}")
        if [label.value for label in LABELS] != meta.get("labels"):
            raise EmotionModelError(f"{meta_path}: labels {meta.get('labels')} are not CEDR's")
        info = ModelInfo(
            name=str(meta.get("name", meta_path.stem)),
            features=meta["features"],
            lemma_table=bool(meta.get("lemma_table", False)),
            thresholds=tuple(float(t) for t in meta["thresholds"]),
            description=str(meta.get("description", "")),
            latin_thresholds=(
                tuple(float(t) for t in meta["latin_thresholds"])
                if "latin_thresholds" in meta
                else None
            ),
            negative_head=bool(meta.get("negative_head", False)),
        )
        try:
            return cls(info, arrays)
        except KeyError as exc:
            raise EmotionModelError(f"{arrays_path}: missing array {exc}") from exc

    def probabilities(self, text: str) -> Array:
        """Per-label probabilities (in `LABELS` order, then the negative head's) of a message."""
        return self.read_normal(normalize(text))[0]

    def read(self, texts: Sequence[str]) -> list[EmotionReading]:
        readings = []
        for text in texts:
            probabilities, thresholds = self.read_normal(normalize(text))
            readings.append(reading_of(probabilities, thresholds))
        return readings

    def read_normal(self, normal: str) -> tuple[Array, Array]:
        """(probabilities, thresholds) of a `normalize`d message."""
        if self._latin is not None and is_latin(normal):
            # The character n-grams and thresholds were fitted on Russian; for English only
            # the word scores, which come from a multilingual encoder, carry over.
            scores, intercept, thresholds = self._latin
            lemmas = self._lemmatizer.lemmas(normal)
            return _sigmoid(intercept + self._mean_word_scores(lemmas, scores)), thresholds
        return _sigmoid(self.logits_normal(normal)), self._thresholds

    def logits_normal(self, normal: str) -> Array:
        """The main head's logits of a `normalize`d message (never the Latin-script head)."""
        lemmas = self._lemmatizer.lemmas(normal) if self._needs_lemmas else []
        logits = self._intercept + self._mean_word_scores(lemmas, self._lemma_scores)
        terms = char_ngrams(normal) if self.info.features != "word" else word_tokens(normal)
        logits = logits + self._block.logits(terms)
        if self._lemma_block is not None:
            logits = logits + self._lemma_block.logits(lemma_ngrams(lemmas))
        return logits

    @property
    def _needs_lemmas(self) -> bool:
        return bool(self._lemma_index) or self._lemma_block is not None

    def _mean_word_scores(self, lemmas: list[str], scores: Array) -> Array:
        known = [self._lemma_index[lemma] for lemma in lemmas if lemma in self._lemma_index]
        if not known:
            return np.zeros(self.info.columns, dtype=np.float32)
        mean: Array = scores[known].mean(axis=0, dtype=np.float32)
        return mean


class _SparseBlock:
    """One TF-IDF block (sublinear tf, l2) times its coefficients, as scikit-learn fits it."""

    def __init__(self, arrays: dict[str, Any], prefix: str, columns: int) -> None:
        vocabulary = arrays[f"{prefix}vocabulary"]
        self.index = {str(term): i for i, term in enumerate(vocabulary.tolist())}
        self.idf: Array = arrays[f"{prefix}idf"].astype(np.float32)
        self.coef: Array = arrays[f"{prefix}coef"].astype(np.float32)
        self.shapes_ok = self.coef.shape == (len(self.index), columns) and self.idf.shape == (
            len(self.index),
        )
        self.columns = columns

    def logits(self, terms: list[str]) -> Array:
        counts = Counter(self.index[t] for t in terms if t in self.index)
        if not counts:
            return np.zeros(self.columns, dtype=np.float32)
        rows = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        weights = (1.0 + np.log(tf)) * self.idf[rows]
        weights /= float(np.linalg.norm(weights)) or 1.0
        return (weights @ self.coef[rows]).astype(np.float32)


def is_latin(normal: str) -> bool:
    """Whether a normalised message is written mostly in Latin letters (English, say)."""
    latin = sum(1 for ch in normal if "a" <= ch <= "z")
    cyrillic = sum(1 for ch in normal if "а" <= ch <= "я")
    return latin > cyrillic


def _sigmoid(logits: Array) -> Array:
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def decide_labels(probabilities: Sequence[float], thresholds: Sequence[float]) -> set[Emotion]:
    """Labels over their thresholds; with a negative head (a sixth column), a message it
    calls negative while no negative label passes gets the likeliest negative label.

    The head sees all three negative labels as one class, so it has more examples than any
    of them alone; cross-validation on the fit split put it 1.3 points over the labels
    alone on binary negative F1 (docs/mood.md).
    """
    labels = {
        label for label, p, t in zip(LABELS, probabilities, thresholds, strict=False) if p >= t
    }
    head_says_negative = len(probabilities) > len(LABELS) and probabilities[-1] >= thresholds[-1]
    if head_says_negative and not labels & NEGATIVE:
        likeliest, _ = max(_NEGATIVE_COLUMNS, key=lambda pair: probabilities[pair[1]])
        labels.add(likeliest)
    return labels


_NEGATIVE_COLUMNS = [(label, i) for i, label in enumerate(LABELS) if label in NEGATIVE]


def reading_of(probabilities: Array, thresholds: Array) -> EmotionReading:
    """The reading (labels, per-label scores) of per-column probabilities."""
    labels = decide_labels(probabilities.tolist(), thresholds.tolist())
    scores = {label: float(p) for label, p in zip(LABELS, probabilities, strict=False)}
    # "No emotion" is as likely as the most likely label is not.
    scores[Emotion.NONE] = 1.0 - max(scores.values())
    return EmotionReading(labels=frozenset(labels or {Emotion.NONE}), scores=scores)


_cache: dict[str, LinearEmotionReader] = {}
_cache_lock = threading.Lock()


def load_reader(name_or_path: str | Path) -> LinearEmotionReader:
    """A model, loaded once per process (the arrays are read-only, so readers are shared)."""
    key = str(name_or_path)
    with _cache_lock:
        reader = _cache.get(key)
        if reader is None:
            reader = _cache[key] = LinearEmotionReader.load(name_or_path)
        return reader


def load_emotion_reader(settings: Settings) -> LinearEmotionReader | None:
    """The reader `settings.mood` names, or None when mood reading is switched off.

    Raises `EmotionModelError` when the model cannot be loaded.
    """
    if not settings.mood.enabled:
        return None
    return load_reader(settings.mood.model)
