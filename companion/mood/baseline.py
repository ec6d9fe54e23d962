"""The baseline every emotion report shows beside the model: word TF-IDF + logistic regression.

Fitted by the same script on the same rows, with thresholds tuned the same way, so the gap
between the two is what character n-grams and the distilled word scores add.
"""

from __future__ import annotations

from companion.mood.classifier import BASELINE, LinearEmotionReader, load_reader


def load_baseline_reader() -> LinearEmotionReader:
    return load_reader(BASELINE)
