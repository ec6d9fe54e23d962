"""Text -> features of the emotion classifier, shared by training and reading.

Two views of a message, both cheap on CPU:

* character n-grams (2-5) inside whitespace tokens, with the token's edges marked by spaces:
  they catch inflected Russian words, typos, emoticons (``)))``, ``:(``) and emoji;
* words reduced to a dictionary form (pymorphy3 lemmas for Cyrillic, lower case for Latin),
  looked up in a table of per-word scores distilled from a multilingual sentence encoder:
  this is the view that carries over to English (see training/mood/train_emotions.py).

Training passes these same functions to scikit-learn, so the model reads exactly what it
was fitted on.
"""

from __future__ import annotations

import itertools
import re
import threading
from functools import lru_cache
from typing import Any

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[а-яё]+|[a-z]+")
_CYRILLIC = re.compile(r"[а-яё]")
# A run of one character longer than this ("))))))))") says no more than three of it.
_REPEAT = re.compile(r"(.)\1{3,}")
MAX_TOKEN_CHARS = 30
MAX_TEXT_CHARS = 2000


def normalize(text: str) -> str:
    """Lower case, ё as е, links/mentions/numbers as placeholders, long repeats cut to three."""
    text = text[:MAX_TEXT_CHARS].lower().replace("ё", "е")
    text = _URL.sub(" url ", text)
    text = _MENTION.sub(" @user ", text)
    text = _DIGITS.sub("0", text)
    return _REPEAT.sub(r"\1\1\1", text)


def char_ngrams(text: str, low: int = 2, high: int = 5) -> list[str]:
    """Character n-grams of a normalised text, within tokens padded by a space each side."""
    grams: list[str] = []
    for token in text.split():
        padded = f" {token[:MAX_TOKEN_CHARS]} "
        size = len(padded)
        for n in range(low, high + 1):
            grams.extend(padded[i : i + n] for i in range(size - n + 1))
    return grams


def word_tokens(text: str) -> list[str]:
    """Alphabetic words (two letters or more) of a normalised text."""
    return [word for word in _WORD.findall(text) if len(word) > 1]


def lemma_ngrams(lemmas: list[str]) -> list[str]:
    """Lemma unigrams and adjacent bigrams ("не нравиться"): pools Russian inflections and
    keeps a negation with the word it negates."""
    return lemmas + [f"{a} {b}" for a, b in itertools.pairwise(lemmas)]


class Lemmatizer:
    """Russian words to their dictionary form (pymorphy3), English words as they are.

    pymorphy3's dictionaries take ~100 ms to open, so they open on first use; results are
    cached because chat messages repeat the same few thousand words.
    """

    def __init__(self, cache_size: int = 100_000) -> None:
        self._morph: Any = None
        self._lock = threading.Lock()
        self.lemma = lru_cache(maxsize=cache_size)(self._lemma)

    def _analyzer(self) -> Any:
        if self._morph is None:
            with self._lock:
                if self._morph is None:
                    import pymorphy3  # type: ignore[import-untyped]

                    self._morph = pymorphy3.MorphAnalyzer()
        return self._morph

    def _lemma(self, word: str) -> str:
        if not _CYRILLIC.match(word):
            return word
        parsed = self._analyzer().parse(word)
        if not parsed:
            return word
        return str(parsed[0].normal_form).replace("ё", "е")

    def lemmas(self, text: str) -> list[str]:
        """Lemmas of the words of a normalised text."""
        return [self.lemma(word) for word in word_tokens(text)]
