"""The embedder's offset between languages, and cosines with it taken out across languages.

A multilingual embedder (multilingual-e5) places a Russian and an English sentence about the
same thing near each other, but every sentence also carries its language: a Russian question
is closer to any Russian record than to the English record that answers it. So a question
asked in one language about something said in the other ranks below merely similar records in
its own language (dense recall of such questions on the generated sets: 0.50 at k=10).

The language's part is estimated as the mean passage vector of everyday sentences in each
language (`reference/sentences.tsv`; Libovický et al. 2020, "On the Language Neutrality of
Pre-trained Multilingual Representations", find the language in such means). A record in
another language than the question gets the difference of the two means . question added to
its cosine: its similarity is then counted from what a typical sentence of its language scores
against the question, as if it had been said in the question's language. Records in the
question's own language keep their plain cosine, so a one-language history ranks exactly as
before. Language is told by script (Cyrillic: ru, Latin: en), the two the service speaks.

The means are measured once per embedder, in the background when a search first needs them
(a few seconds of embedding on CPU, once per process); an evaluation passes them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from importlib import resources

import numpy as np
import numpy.typing as npt

from companion.memory.embedder import Embedder, Vector

log = logging.getLogger(__name__)

# Script codes stored per row of a user's index (int8): 0 = no letters / undecided.
UNKNOWN, EN, RU = 0, 1, 2
LANGUAGE_CODES = {"en": EN, "ru": RU}
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)


def language_of(text: str) -> int:
    """EN or RU by the script most of the text's letters are in; UNKNOWN without letters."""
    cyrillic = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    if cyrillic == latin:
        return UNKNOWN
    return RU if cyrillic > latin else EN


def reference_sentences() -> dict[int, list[str]]:
    """The shipped sentences by language code."""
    text = (resources.files("companion.memory") / "reference" / "sentences.tsv").read_text(
        encoding="utf-8"
    )
    out: dict[int, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        language, _, sentence = line.partition("\t")
        out.setdefault(LANGUAGE_CODES[language], []).append(sentence)
    return out


async def measure_means(
    embedder: Embedder, reference: Mapping[int, list[str]] | None = None
) -> dict[int, Vector]:
    """Mean passage vector per language of the reference sentences (the shipped ones unless
    given), under `embedder`."""
    means: dict[int, Vector] = {}
    for code, sentences in (reference or reference_sentences()).items():
        # In small batches: a reply's own embedding can run between them.
        batches = [sentences[i : i + 16] for i in range(0, len(sentences), 16)]
        vectors = np.concatenate(
            [np.asarray(await embedder.embed_passages(b), dtype=np.float32) for b in batches]
        )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        means[code] = (vectors / np.maximum(norms, 1e-12)).mean(axis=0)
    return means


class LanguageMeans:
    """The per-language mean vectors of one embedder: given, or measured once.

    A search does not wait for the measuring (`ready`): the first one that needs the means
    starts it in the background and ranks without the shift meanwhile, so no reply waits
    for a few hundred sentences to be embedded."""

    def __init__(
        self, embedder: Embedder | None = None, means: Mapping[int, Vector] | None = None
    ) -> None:
        self._embedder = embedder
        self._means: dict[int, Vector] | None = dict(means) if means is not None else None
        self._task: asyncio.Task[dict[int, Vector]] | None = None

    async def get(self) -> dict[int, Vector]:
        """The means, measured now if need be; empty (no shift) when they cannot be."""
        self.ready()  # starts the measuring if need be
        if self._means is None and self._task is not None:
            await asyncio.shield(self._task)
        return self._means or {}

    def ready(self) -> dict[int, Vector]:
        """The means if measured, else empty, starting the measuring (in the background)."""
        if self._means is None and self._embedder is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._measure())
        return self._means or {}

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _measure(self) -> dict[int, Vector]:
        assert self._embedder is not None
        try:
            self._means = await measure_means(self._embedder)
        except Exception:  # a search must not fail for want of the shift: it ranks without
            log.exception("could not measure the embedder's language means")
            self._means = {}
        return self._means


def shift_across_languages(
    dense: npt.NDArray[np.float32],
    languages: npt.NDArray[np.int8],
    query: Vector,
    query_language: int,
    means: Mapping[int, Vector],
    weight: float,
) -> npt.NDArray[np.float32]:
    """`dense` (the cosines of the rows with `query`) with each row in another language than
    the query's raised by `weight` x (mean of the query's language - mean of the row's) . query.

    That is each row's cosine measured against how close a typical sentence of its own
    language comes to the query (p.q - m_row.q, + m_query.q for every row alike, so rows in
    the query's language keep their cosine): the part of the similarity that is only the
    shared language no longer counts."""
    target = means.get(query_language)
    if target is None or weight <= 0:
        return dense
    out = dense
    for code, mean in means.items():
        if code == query_language:
            continue
        rows = languages == code
        if not rows.any():
            continue
        if out is dense:
            out = dense.copy()
        out[rows] += np.float32(weight * float((target - mean) @ query))
    return out
