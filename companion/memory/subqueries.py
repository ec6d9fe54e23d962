"""Questions about several things: their parts, and a lexical signal that serves each part.

"Which did I buy first, the dog bed for Max or the training pads for Luna?", "How many days
passed between the concert and the trip?", "What is the order of 'A', 'B' and 'C'?": the
answer sits in two or three exchanges, each about one part. BM25 over the whole question
adds up every term, so the exchange that matches the part with the rarer words crowds the
top and the other part's exchange, which shares only half the question's words, falls behind
unrelated matches. Scoring each part on its own (against what a record holding all of that
part's words would score) gives every part's best match a full lexical score.

Only BM25 is split: embedding each part would cost another query embedding on the reply's
path (the recall budget is 60 ms and one embedding takes most of it).
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from companion.memory.bm25 import BM25Index
from companion.memory.fusion import Floats, share_of_ideal
from companion.memory.text import tokenize

# A quoted title or event: the quote opens after a space or punctuation and closes before
# one, so apostrophes inside words ("I've", "friend's") are not quotes.
_QUOTED_RE = re.compile(r"(?:^|(?<=[\s(,:;]))['\"‘“«]([^'\"‘’“”«»]{3,}?)['\"’”»](?=[\s,.?!:;)]|$)")
# Words that join the things a question asks about (quoted parts are taken first, so an
# "and" inside a quoted title does not split it). Not commas: "Remind me, what ...", "the
# novel, which ..." are one question.
_JOINERS_RE = re.compile(
    r"\s*,?\s*\b(?:or|and|when|before|after|between|than|или|либо|и|когда|перед|после|чем)\b\s*",
    re.IGNORECASE,
)
# A part needs this many content words: "... and how did I like it?" leaves "like", which
# matches half of any history and would get a full score as a part of its own.
MIN_PART_WORDS = 2
MAX_PARTS = 4


def question_parts(text: str) -> list[str]:
    """The parts of a question that asks about several things (each with two content words
    or more; a quoted title with one); [] when it asks about one."""
    quoted = [match.group(1) for match in _QUOTED_RE.finditer(text)]
    if len(quoted) >= 2:
        parts = [part for part in quoted if tokenize(part)]
    else:
        parts = [
            part.strip()
            for part in _JOINERS_RE.split(text)
            if len(tokenize(part)) >= MIN_PART_WORDS
        ]
    return parts[:MAX_PARTS] if len(parts) >= 2 else []


def lexical_signal(
    bm25: BM25Index,
    query: str,
    whole: npt.NDArray[np.float32],
    ideal: float,
    mask: npt.NDArray[np.bool_],
    part_weight: float,
) -> Floats:
    """BM25 of the whole question on 0..1 (score / ideal), raised for rows that match one of
    its parts well: max(whole, part_weight x the best part's score / that part's ideal)."""
    signal = share_of_ideal(whole, ideal)
    signal[~mask] = 0.0
    if part_weight <= 0:
        return signal
    for part in question_parts(query):
        scores = bm25.scores(part)
        scores[~mask] = 0.0
        signal = np.maximum(signal, part_weight * share_of_ideal(scores, bm25.ideal(part)))
    return signal
