"""Naive-Bayes log-count-ratio scaling of the character n-grams (NB-SVM, Wang & Manning 2012).

Before the logistic regression of a column, each character n-gram's TF-IDF value is multiplied
by ``r = log((p / |p|_1) / (q / |q|_1))``, where p and q are that n-gram's summed TF-IDF over
the column's positive and negative training rows (plus a smoothing count). The penalty then
shrinks n-grams towards their Naive-Bayes evidence instead of towards zero, which suits the
many rare n-grams of a short-text model. For the any-negative column it raised binary
negative F1 by 1.5 points in cross-validation on the fit rows (docs/mood.md, "Training").

The scale is folded into the coefficients (``coef_ = inner coef * r``), so the model file and
the reader are unchanged: the reader multiplies the plain TF-IDF vector by ``coef_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]


def log_count_ratio(
    block: Any, targets: npt.NDArray[np.int_], smoothing: float
) -> npt.NDArray[np.float32]:
    """r per feature of `block` (rows x features, non-negative) for binary `targets`."""
    positive = np.asarray(block[targets == 1].sum(axis=0)).ravel() + smoothing
    negative = np.asarray(block[targets != 1].sum(axis=0)).ravel() + smoothing
    ratio: npt.NDArray[np.float32] = np.log(
        (positive / positive.sum()) / (negative / negative.sum())
    ).astype(np.float32)
    return ratio


class ScaledLogistic:
    """A logistic regression over features whose first `width` columns are scaled by their
    log-count ratio; `coef_` and `intercept_` are those of the unscaled features."""

    def __init__(self, model: LogisticRegression, width: int, smoothing: float) -> None:
        self.model = model
        self.width = width
        self.smoothing = smoothing
        self.scale: npt.NDArray[np.float32] = np.ones(0, dtype=np.float32)
        self.coef_: npt.NDArray[np.float32] = np.zeros((1, 0), dtype=np.float32)
        self.intercept_: npt.NDArray[np.float32] = np.zeros(1, dtype=np.float32)

    def fit(self, features: Any, targets: npt.NDArray[np.int_]) -> ScaledLogistic:
        ratio = log_count_ratio(features[:, : self.width], targets, self.smoothing)
        rest = np.ones(features.shape[1] - self.width, dtype=np.float32)
        self.scale = np.concatenate([ratio, rest])
        self.model.fit(self._scaled(features), targets)
        self.coef_ = (self.model.coef_ * self.scale).astype(np.float32)
        self.intercept_ = self.model.intercept_
        return self

    def predict_proba(self, features: Any) -> npt.NDArray[np.float64]:
        probabilities: npt.NDArray[np.float64] = self.model.predict_proba(self._scaled(features))
        return probabilities

    def _scaled(self, features: Any) -> Any:
        return sparse.csr_matrix(features) @ sparse.diags(self.scale)
