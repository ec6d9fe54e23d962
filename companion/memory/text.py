"""Text handling shared by the lexical index and the duplicate guards: tokens, stems, keys.

Russian and English are told apart per word by script, so a mixed message ("встреча в
Starbucks") stems each word with its own Snowball stemmer. `snowballstemmer` uses the C
implementation from PyStemmer when that is installed (the `ml` extra) and is pure Python
otherwise.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import snowballstemmer

_WORD_RE = re.compile(r"[0-9a-zа-яё]+(?:['’][a-z]+)?", re.IGNORECASE)
_CYRILLIC_RE = re.compile(r"[а-яё]", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")
_PUNCT_RE = re.compile(r"[^\w\s]", re.UNICODE)

# Words that carry no topic. Kept short on purpose: BM25's idf already discounts common words;
# these are the ones that would otherwise make every fact "the user ..." match every question.
_STOPWORDS_TEXT = """
    a an and are as at be been but by did do does for from had has have he her him his how i
    i'm if in into is it its me my of on or our she so that the their them they this to was
    we were what when where which who why will with you your user user's about
    а без более бы был была были было быть в вам вас весь во вот все всё вы да для до его ее
    её если есть еще ещё же за и из или им их к как ко когда кто ли мне мной мы на над не нет
    ни но ну о об он она они оно от по под при про с со так также там то тоже ты у уже чем
    что чтобы эта эти это я пользователь пользователя пользователю
"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@lru_cache(maxsize=4)
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(language)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of one lower-case word, Russian or English by its script."""
    language = "russian" if _CYRILLIC_RE.search(word) else "english"
    return str(_stemmer(language).stemWord(word))


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed content words of `text`, in order (repeats kept for term counts)."""
    words = _WORD_RE.findall(text.lower().replace("ё", "е"))
    return [stem(word) for word in words if word not in _STOPWORDS and len(word) > 1]


def normalize(text: str) -> str:
    """A comparison key: lower case, no punctuation, single spaces, ё as е."""
    lowered = text.lower().replace("ё", "е")
    return _SPACE_RE.sub(" ", _PUNCT_RE.sub(" ", lowered)).strip()


def text_hash(text: str) -> str:
    """A stable hash of the normalised text (for duplicate and tombstone checks)."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()
