"""An honest, fast stand-in for a sentence embedder: hashed bags of stems.

Texts sharing content words get similar vectors, unrelated texts near-orthogonal ones, which
is all the retriever's ranking logic needs to be tested without loading a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from companion.memory.text import tokenize

DIMENSION = 256


def _vector(text: str) -> np.ndarray:
    vector = np.zeros(DIMENSION, dtype=np.float32)
    for token in tokenize(text):
        digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "little") % DIMENSION] += 1.0
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        vector[0] = 1.0
        norm = 1.0
    return vector / norm


class HashingEmbedder:
    model_id = "hashing-test"

    def __init__(self) -> None:
        self.calls = 0

    @property
    def dimension(self) -> int:
        return DIMENSION

    async def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([_vector(t) for t in texts]) if texts else np.zeros((0, DIMENSION))

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([_vector(t) for t in texts]) if texts else np.zeros((0, DIMENSION))
