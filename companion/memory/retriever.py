"""The retriever: ranked recall over one user's records (facts or past exchanges).

One component, used for both kinds of memory. It works on any records of
``(id, text, time, importance)`` for a user and answers "which of this user's records matter
for this query", best first.

Python API::

    retriever = Retriever(embedder, source)             # source loads a user's stored records
    await retriever.index(user_id, [MemoryRecord(id, text, time, importance=4)])
    await retriever.remove(user_id, ["id-1"])
    hits = await retriever.search(user_id, "where do I live?", k=5)   # list[ScoredId]
    texts = fit_to_budget([...], budget_tokens=600, count_tokens=len)

How a query is ranked (see `RetrieverConfig` for the knobs):

1. dense: cosine similarity of the query vector with every record vector of the user (exact:
   one numpy matrix-vector product over the user's normalised vectors; per-user data is small),
   or MongoDB ``$vectorSearch`` when a `DenseSearch` is given (``memory.vector_search=atlas``);
   a record in another language than the query has the embedder's language offset taken out
   of its cosine (`companion.memory.languages`);
2. lexical: BM25 over Russian/English stems (`companion.memory.bm25`);
3. the top candidates of both are fused: cosine + a small weight times BM25 (scaled to the
   query's best match) + recency (exponential decay with a half-life) + importance (1..5);
   weighted reciprocal rank fusion is the alternative (`RetrieverConfig(fusion="rrf")`);
4. MMR (maximal marginal relevance) picks the final k so near-duplicates do not crowd out
   other relevant records.

Storage stays with the owner of the records (the fact and episode repositories): the
retriever reads a user's records through a `RecordSource` on first use and keeps them in an
LRU-bounded in-memory cache; `index` and `remove` keep that cache in step with the writes the
owner makes, so a search never needs a database round trip once the user is warm.

Around it: `records` (what is ranked, and sources), `user_index` (one user's rows),
`selection` (top rows, MMR, the token budget), `retriever_config` (the knobs), `languages`
(the offset between Russian and English).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from companion.memory.dates import find_windows
from companion.memory.embedder import Embedder, Vector, normalize_rows
from companion.memory.fusion import fuse, rocchio, smooth_with_neighbours, superseded
from companion.memory.languages import UNKNOWN, LanguageMeans, language_of, shift_across_languages
from companion.memory.present import time_priors
from companion.memory.records import DenseSearch, MemoryRecord, RecordSource, ScoredId, UserId
from companion.memory.retriever_config import RetrieverConfig
from companion.memory.selection import mmr, top_rows
from companion.memory.subqueries import lexical_signal
from companion.memory.user_index import UserIndex, build_index

log = logging.getLogger(__name__)


class Retriever:
    """Hybrid (dense + BM25) search over each user's records, with a per-user LRU cache."""

    def __init__(
        self,
        embedder: Embedder,
        source: RecordSource,
        *,
        config: RetrieverConfig | None = None,
        dense_search: DenseSearch | None = None,
        languages: LanguageMeans | None = None,
    ) -> None:
        self.embedder = embedder
        # The embedder's per-language means (measured on first need unless given; one
        # object may serve several retrievers of the same embedder).
        self.languages = languages or LanguageMeans(embedder)
        self.source = source
        self.config = config or RetrieverConfig()
        self.dense_search = dense_search
        self._cache: OrderedDict[UserId, UserIndex] = OrderedDict()
        self._locks: dict[UserId, asyncio.Lock] = {}
        self._threadpools: Any = None  # a threadpoolctl controller, made on first search

    async def aclose(self) -> None:
        """Stops measuring the language means if that is under way."""
        await self.languages.aclose()

    def invalidate(self, user_id: UserId) -> None:
        """Drop the user's cached index; the next call reloads it from the source."""
        self._cache.pop(user_id, None)

    def cached_users(self) -> int:
        return len(self._cache)

    async def index(self, user_id: UserId, records: Sequence[MemoryRecord]) -> list[MemoryRecord]:
        """Add or replace records (by id) for a user; embeds those without a vector.

        Returns the records with their vectors, for the caller to store.
        """
        missing = [record for record in records if record.vector is None]
        embedded: dict[str, Vector] = {}
        if missing:
            vectors = await self.embedder.embed_passages([record.text for record in missing])
            embedded = {record.id: vectors[i] for i, record in enumerate(missing)}
        ready = [
            replace(
                record,
                vector=normalize_rows(
                    embedded[record.id] if record.vector is None else record.vector
                )[0],
            )
            for record in records
        ]
        index = await self._user(user_id)
        for record in ready:
            index.add(record)
        return ready

    async def remove(self, user_id: UserId, ids: Collection[str]) -> None:
        # Under the user's lock: a load that started before the caller's delete reached the
        # database finishes first, and the removal then applies to what it loaded.
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            index = self._cache.get(user_id)
        if index is None:
            return
        for record_id in ids:
            index.remove(record_id)
        self._maybe_compact(user_id, index)

    async def records(
        self,
        user_id: UserId,
        *,
        ids: Collection[str] | None = None,
        min_importance: float | None = None,
        with_vectors: bool = True,
    ) -> list[MemoryRecord]:
        """The user's live records (from the cache, loading it if needed), optionally only
        those with the given ids or at least `min_importance`; without vectors it is cheap."""
        index = await self._user(user_id)
        rows: list[int] | None = None
        if ids is not None:
            rows = [index.rows[i] for i in ids if i in index.rows]
        if min_importance is not None:
            important = np.flatnonzero(index.importance.view() >= min_importance).tolist()
            rows = important if rows is None else sorted(set(rows) & set(important))
        return index.records(rows, with_vectors=with_vectors)

    async def search(
        self,
        user_id: UserId,
        query: str,
        k: int,
        *,
        now: datetime | None = None,
        query_vector: Vector | None = None,
        exclude: Collection[str] = (),
        scope: str | None = None,
    ) -> list[ScoredId]:
        """The user's `k` best records for `query`, best first."""
        index = await self._user(user_id)
        if k <= 0 or index.live_count() == 0:
            return []
        if query_vector is None:
            query_vector = (await self.embedder.embed_queries([query]))[0]
        qv = np.asarray(query_vector, dtype=np.float32)
        external: list[tuple[str, float]] | None = None
        if self.dense_search is not None:
            external = await self.dense_search(user_id, qv, self.config.candidates, scope)
        query_language = language_of(query)
        means: dict[int, Vector] = {}
        if (
            self.config.language_shift > 0
            and query_language != UNKNOWN
            and index.has_other_language(query_language)
        ):
            means = self.languages.ready()
        with self._blas_limit():
            return self._rank(
                index, query, qv, k, now, exclude, scope, external, (query_language, means)
            )

    def _rank(
        self,
        index: UserIndex,
        query: str,
        qv: Vector,
        k: int,
        now: datetime | None,
        exclude: Collection[str],
        scope: str | None,
        external: list[tuple[str, float]] | None,
        language: tuple[int, dict[int, Vector]] = (UNKNOWN, {}),
    ) -> list[ScoredId]:
        alive, times, importance, scopes = index.arrays()
        mask = alive.copy()
        if scope is not None:
            code = index.scope_codes.get(scope)
            if code is None:
                return []
            mask &= scopes == code
        for record_id in exclude:
            row = index.rows.get(record_id)
            if row is not None:
                mask[row] = False
        if not mask.any():
            return []
        cfg = self.config
        matrix = index.matrix[: index.size]
        query_language, means = language
        languages = index.languages.view()

        def cosines(vector: Vector) -> Vector:
            plain = matrix @ vector
            if not means:
                return plain
            return shift_across_languages(
                plain, languages, vector, query_language, means, cfg.language_shift
            )

        dense = cosines(qv)
        if external is None:
            dense_order = top_rows(
                np.where(mask, dense, -np.inf), cfg.candidates, positive_only=False
            )
        else:
            rows_of = (index.rows.get(record_id) for record_id, _ in external)
            dense_order = [row for row in rows_of if row is not None and mask[row]]
        lexical = index.bm25.scores(query)
        lexical[~mask] = 0.0
        ideal = (
            index.bm25.ideal(query)
            if cfg.lexical_scale == "query" or cfg.fusion == "adaptive"
            else None
        )
        signal = None
        if cfg.fusion == "normalized" and ideal is not None and cfg.part_weight > 0:
            # A question about several things: each part's best matches count in full.
            signal = lexical_signal(index.bm25, query, lexical, ideal, mask, cfg.part_weight)
        lexical_order = top_rows(
            lexical if signal is None else signal, cfg.candidates, positive_only=True
        )
        if not dense_order and not lexical_order:
            return []
        relevance = fuse(cfg, dense, dense_order, lexical, lexical_order, signal, ideal, mask)
        if cfg.expansion_weight > 0 and external is None:
            # Second pass: the query moved towards what the first pass found best.
            found = top_rows(
                np.where(mask, relevance, -np.inf), cfg.expansion_docs, positive_only=False
            )
            moved = rocchio(qv, matrix[found], cfg.expansion_weight)
            dense = cosines(moved)
            dense_order = top_rows(
                np.where(mask, dense, -np.inf), cfg.candidates, positive_only=False
            )
            relevance = fuse(cfg, dense, dense_order, lexical, lexical_order, signal, ideal, mask)
            dense = cosines(qv)  # reported cosines stay those of the query itself
        relevance[~mask] = 0.0
        relevance = smooth_with_neighbours(
            relevance, index.previous.view(), index.following.view(), cfg.neighbour_weight
        )
        # The candidates for the final pick: the best fused rows among the candidates of
        # either ranking and what neighbours lifted above zero.
        eligible = mask & (relevance > 0)
        eligible[dense_order] = True
        eligible[lexical_order] = True
        if cfg.date_weight > 0:
            # Only candidates are lifted: a record of the right day that is about something
            # else must not push out what the question is about.
            windows = find_windows(query, (now or datetime.now(UTC)).date())
            inside = index.in_windows(windows, mask, cfg.date_refers_weight)
            lift = cfg.date_weight * np.where(eligible, inside, 0.0)
            # "scale": a share of the row's own relevance, so a weak match said in the span
            # stays behind a strong one said outside it; "add": the same lift for every row.
            relevance = relevance * (1.0 + lift) if cfg.date_mode == "scale" else relevance + lift
        pool = max(cfg.candidates, k)
        rows = np.asarray(
            top_rows(np.where(eligible, relevance, -np.inf), pool, positive_only=False),
            dtype=np.int64,
        )
        if rows.size == 0:
            return []
        when = (now or datetime.now(UTC)).timestamp()
        age_days = np.maximum(when - times[rows], 0.0) / 86400.0
        recency = np.power(0.5, age_days / cfg.recency_half_life_days)
        prior = importance[rows] - 3.0
        recency_weight, supersede_weight = time_priors(cfg, query)
        scores = relevance[rows] + recency_weight * recency + cfg.importance_weight * prior / 2.0
        if supersede_weight > 0:
            scores = scores - supersede_weight * superseded(
                index.matrix[rows],
                times[rows],
                relevance[rows],
                cfg.supersede_quantile,
                cfg.supersede_gap_s,
            )
        chosen = mmr(index.matrix, rows, scores, k, cfg.mmr_lambda)
        return [
            ScoredId(
                id=index.ids[row],
                score=float(score),
                dense=float(dense[row]),
                lexical=float(lexical[row]),
            )
            for row, score in chosen
        ]

    def _blas_limit(self) -> contextlib.AbstractContextManager[object]:
        """One BLAS thread for the small matrix products of a search.

        OpenBLAS splits even a 100x384 product over all cores; on a busy 2-core host the
        threads wait for each other and a 0.4 ms product takes 10+ ms. The limit is switched
        on for the synchronous ranking only (threadpoolctl; a no-op when it is missing).
        """
        if self._threadpools is None:
            try:
                from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

                self._threadpools = ThreadpoolController()
            except ImportError:
                self._threadpools = False
        if self._threadpools is False or self.config.blas_threads is None:
            return contextlib.nullcontext()
        return self._threadpools.limit(limits=self.config.blas_threads, user_api="blas")  # type: ignore[no-any-return]

    async def _user(self, user_id: UserId) -> UserIndex:
        cached = self._cache.get(user_id)
        if cached is not None and not self._expired(cached):
            self._cache.move_to_end(user_id)
            return cached
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(user_id)
            if cached is not None and not self._expired(cached):
                return cached
            stored = await self.source.load(user_id)
            # Tokenising thousands of texts takes a while: keep the event loop free meanwhile.
            index = await asyncio.to_thread(
                build_index, stored, self.config.neighbour_gap_s, self.config.user_words_weight
            )
            self._cache[user_id] = index
            self._cache.move_to_end(user_id)
            while len(self._cache) > self.config.max_users:
                evicted, _ = self._cache.popitem(last=False)
                self._locks.pop(evicted, None)
            return index

    def _expired(self, index: UserIndex) -> bool:
        ttl = self.config.cache_ttl_s
        return ttl is not None and time.monotonic() - index.loaded_at > ttl

    def _maybe_compact(self, user_id: UserId, index: UserIndex) -> None:
        # Removed rows cost a little on every search; rebuild once they are a quarter.
        if index.dead > max(32, index.size // 4):
            rebuilt = build_index(
                index.records(), self.config.neighbour_gap_s, self.config.user_words_weight
            )
            rebuilt.loaded_at = index.loaded_at
            self._cache[user_id] = rebuilt
