"""Recall of the memory retriever on an evaluation set, against baselines, in one run.

An evaluation set is what `benchmarks/data/make_memory_eval.py` generates and
`benchmarks/data/convert_public_memory.py` converts (LongMemEval, LoCoMo): users with dated
sessions of turns, and questions naming the exchanges that hold the answer. Each exchange (a
user message and the reply, as `MemoryService` stores episodes) is one record, and each
question is asked at its ``asked_at`` time. Methods, all over the same vectors:

- ``hybrid``: `Retriever` with the configuration under test (by default the production one);
- ``bm25``: the same BM25 index alone; ``dense``: cosine similarity alone;
- ``recent``: the most recent exchanges (what a prompt holds without long-term memory).

Recall@k of a question is the share of its evidence exchanges among the first k.

Passage vectors are cached on disk per (set, model), so trying a fusion setting or a new
retriever on a large set costs the embedding once. Used by ``companion memory eval`` and
``benchmarks/memory_recall.py``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from companion.memory.bm25 import BM25Index
from companion.memory.dates import find_windows
from companion.memory.embedder import Embedder, normalize_rows
from companion.memory.evalset import EvalSet, load_set
from companion.memory.languages import LanguageMeans, measure_means, reference_sentences
from companion.memory.records import InMemoryRecordSource, MemoryRecord
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig

KS = (5, 10)
BASELINES = ("bm25", "dense", "recent")
Matrix = npt.NDArray[np.float32]
# results[method@k][question type or "all"] -> recall of each question
Results = dict[str, dict[str, list[float]]]
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def cache_path(model: str, data_path: Path, cache_dir: Path) -> Path:
    """Where the vectors of this set under this model are kept (the set's bytes and the model
    name make the key: a changed set or another model never reads stale vectors)."""
    digest = hashlib.sha256(data_path.read_bytes() + model.encode()).hexdigest()[:16]
    return cache_dir / f"memory_eval_{digest}.npz"


@dataclass
class Vectors:
    passages: dict[int, Matrix]  # user -> one row per record, in the set's record order
    queries: Matrix  # one row per question, in the set's order
    # The same for what the retriever is asked (`Question.recall_text`); None: `queries`.
    recall_queries: Matrix | None = None
    # The embedder's mean vector per language (`companion.memory.languages`); None: measured
    # by the retriever itself.
    languages: dict[int, npt.NDArray[np.float32]] | None = None

    def subset(self, rows: list[int], users: Iterable[int]) -> Vectors:
        """The vectors of the questions at `rows` (in that order) and of `users`."""
        return Vectors(
            passages={u: self.passages[u] for u in users},
            queries=self.queries[rows],
            recall_queries=None if self.recall_queries is None else self.recall_queries[rows],
            languages=self.languages,
        )


async def embed_set(
    evalset: EvalSet,
    embedder: Embedder,
    model: str,
    cache_dir: Path,
    progress: Progress | None = None,
) -> Vectors:
    """Vectors of every record and question, read from the cache where it has them; the
    cache is written after every few users, so an interrupted run resumes. A text already
    embedded for another user is not embedded again (haystacks built from shared sessions)."""
    path = cache_path(model, evalset.path, cache_dir)
    cached: dict[str, Matrix] = dict(np.load(path)) if path.exists() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    total = sum(map(len, evalset.users.values()))
    done = 0
    dirty = 0
    seen: dict[str, Matrix] = {}
    for user_id, records in evalset.users.items():
        if len(cached.get(f"u{user_id}", ())) == len(records):
            seen.update((r.text, v) for r, v in zip(records, cached[f"u{user_id}"], strict=True))
    for user_id, records in evalset.users.items():
        key = f"u{user_id}"
        if key not in cached or len(cached[key]) != len(records):
            new = list(dict.fromkeys(r.text for r in records if r.text not in seen))
            if new:
                seen.update(zip(new, await embedder.embed_passages(new), strict=True))
            rows = [seen[r.text] for r in records]
            cached[key] = np.stack(rows) if rows else await embedder.embed_passages([])
            dirty += len(new)
        done += len(records)
        if progress:
            progress("embedding", done, total)
        if dirty >= 2000:
            np.savez(path, **cached)  # type: ignore[arg-type]
            dirty = 0
    digests = []
    for texts in ([q.text for q in evalset.questions], [q.recall_text for q in evalset.questions]):
        digest = "q" + hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
        if digest not in cached:
            cached[digest] = await embedder.embed_queries(texts)
            dirty += 1
        digests.append(digest)
    reference = reference_sentences()
    languages_key = (
        "lang" + hashlib.sha256(repr(sorted(reference.items())).encode()).hexdigest()[:16]
    )
    if languages_key not in cached:
        means = await measure_means(embedder, reference)
        cached[languages_key] = np.stack([means[code] for code in sorted(means)])
        cached[languages_key + "_codes"] = np.asarray(sorted(means), dtype=np.int64)
        dirty += 1
    if dirty:
        np.savez(path, **cached)  # type: ignore[arg-type]
    return Vectors(
        passages={u: normalize_rows(cached[f"u{u}"]) for u in evalset.users},
        queries=normalize_rows(cached[digests[0]]),
        recall_queries=normalize_rows(cached[digests[1]]),
        languages={
            int(code): row
            for code, row in zip(
                cached[languages_key + "_codes"], cached[languages_key], strict=True
            )
        },
    )


def _recall(ranked: list[str], evidence: list[str], k: int) -> float:
    top = set(ranked[:k])
    return sum(1 for e in evidence if e in top) / len(evidence)


class Evaluator:
    """Runs retriever configurations and the baselines over one set and its vectors.

    The per-user indexes are built once and shared by every configuration tried (a grid
    search re-ranks, it does not re-index)."""

    def __init__(self, evalset: EvalSet, vectors: Vectors) -> None:
        self.set = evalset
        self.vectors = vectors
        self.source = InMemoryRecordSource()
        self.records: dict[int, list[MemoryRecord]] = {}
        for user_id, records in evalset.users.items():
            with_vectors = [
                replace(r, vector=v)
                for r, v in zip(records, vectors.passages[user_id], strict=True)
            ]
            self.records[user_id] = with_vectors
            self.source.put(user_id, with_vectors)
        self._retriever: Retriever | None = None
        self._bm25: dict[int, BM25Index] = {}

    async def hybrid(
        self, config: RetrieverConfig, progress: Progress | None = None, label: str = "hybrid"
    ) -> dict[str, list[list[str]]]:
        """Ranked ids per question for `config` (keyed "hybrid" for the table)."""
        config = replace(config, cache_ttl_s=None, max_users=max(1, len(self.records)))
        if self._retriever is None or (
            (self._retriever.config.neighbour_gap_s, self._retriever.config.user_words_weight)
            != (config.neighbour_gap_s, config.user_words_weight)
        ):
            self._retriever = Retriever(
                _NoEmbedder(),
                self.source,
                config=config,
                languages=LanguageMeans(means=self.vectors.languages or {}),
            )
        self._retriever.config = config
        ranked: list[list[str]] = []
        asked = self.vectors.recall_queries
        for number, (question, qv) in enumerate(
            zip(self.set.questions, self.vectors.queries if asked is None else asked, strict=True)
        ):
            hits = await self._retriever.search(
                question.user_id,
                question.recall_text,
                max(KS),
                now=question.asked_at,
                query_vector=qv,
            )
            ranked.append([hit.id for hit in hits])
            if progress:
                progress(label, number + 1, len(self.set.questions))
        return {label: ranked}

    def baselines(self, names: Iterable[str] = BASELINES) -> dict[str, list[list[str]]]:
        out: dict[str, list[list[str]]] = {name: [] for name in names}
        for question, qv in zip(self.set.questions, self.vectors.queries, strict=True):
            records = self.records[question.user_id]
            ids = [r.id for r in records]
            if "bm25" in out:
                index = self._bm25.get(question.user_id)
                if index is None:
                    index = self._bm25[question.user_id] = BM25Index()
                    for record in records:
                        index.add(record.text)
                scores = index.scores(question.text)
                order = np.argsort(-scores, kind="stable")[: max(KS)]
                out["bm25"].append([ids[i] for i in order])
            if "dense" in out:
                matrix = self.vectors.passages[question.user_id]
                order = np.argsort(-(matrix @ qv), kind="stable")[: max(KS)]
                out["dense"].append([ids[i] for i in order])
            if "recent" in out:
                before = [r for r in records if r.time <= question.asked_at]
                newest = sorted(before, key=lambda r: r.time, reverse=True)[: max(KS)]
                out["recent"].append([r.id for r in newest])
        return out

    def score(self, rankings: Mapping[str, list[list[str]]]) -> Results:
        results: Results = defaultdict(lambda: defaultdict(list))
        for name, ranked in rankings.items():
            for question, ids in zip(self.set.questions, ranked, strict=True):
                for k in KS:
                    value = _recall(ids, question.evidence, k)
                    results[f"{name}@{k}"][question.type].append(value)
                    results[f"{name}@{k}"]["all"].append(value)
        return results


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def kinds(results: Results) -> list[str]:
    first = next(iter(results.values()))
    return [*sorted(kind for kind in first if kind != "all"), "all"]


def verdicts(results: Results, method: str = "hybrid", min_questions: int = 20) -> list[str]:
    """Where `method` does not beat every baseline at every k, overall and on every question
    type with at least `min_questions` questions (empty: it beats them everywhere)."""
    losses: list[str] = []
    for k in KS:
        ours = results[f"{method}@{k}"]
        for kind, values in ours.items():
            if kind != "all" and len(values) < min_questions:
                continue
            for baseline in ("bm25", "dense"):
                theirs = results.get(f"{baseline}@{k}", {}).get(kind)
                if theirs is not None and mean(values) <= mean(theirs):
                    losses.append(
                        f"{method}@{k} {mean(values):.3f} <= {baseline}@{k} {mean(theirs):.3f}"
                        f" on {kind}"
                    )
    return losses


class _NoEmbedder:
    """The evaluator passes every vector in; asking for one is a bug."""

    model_id = "none"
    dimension = 0

    async def embed_queries(self, texts: Any) -> Matrix:
        raise AssertionError("the evaluator passes query vectors")

    async def embed_passages(self, texts: Any) -> Matrix:
        raise AssertionError("the evaluator passes passage vectors")


# -- one command: embed (cached), run hybrid and the baselines, print the table ------------------


def render(results: Results, console: Any, title: str) -> None:
    """The per-type recall table (rich), methods as rows, question types as columns."""
    from rich.table import Table

    columns = kinds(results)
    first = results[f"{next(iter(results)).split('@')[0]}@{KS[0]}"]
    table = Table(title=title)
    table.add_column("method")
    for kind in columns:
        table.add_column(f"{kind} ({len(first[kind])})", justify="right")
    methods = list(dict.fromkeys(name.split("@")[0] for name in results))
    for method in methods:
        for k in KS:
            row = results[f"{method}@{k}"]
            table.add_row(f"{method}@{k}", *(f"{mean(row[kind]):.3f}" for kind in columns))
    console.print(table)


async def run_eval(
    data: Path,
    embedder: Embedder,
    model: str,
    console: Any,
    *,
    config: RetrieverConfig | None = None,
    extra: Mapping[str, RetrieverConfig] | None = None,
    split: str | None = None,
    cache_dir: Path = Path("var/bench"),
    dated_only: bool = False,
    cached_only: bool = False,
    stretch_days: float | None = None,
) -> Results:
    """Embeds the set (cached), ranks with `config` and `extra` configurations and the
    baselines, prints the table and where the hybrid does not beat BM25 and dense.

    `dated_only`: only the questions that name a span of time (what the date lift acts on);
    `cached_only`: only the users whose vectors are cached already (a long set while it is
    still being embedded); `stretch_days`: the histories spread over that many days
    (`EvalSet.stretched`)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    evalset = load_set(data).only(split)
    if dated_only:
        evalset = evalset.where(lambda q: bool(find_windows(q.text, q.asked_at.date())))
    if cached_only:
        path = cache_path(model, data, cache_dir)
        stored = dict(np.load(path)) if path.exists() else {}
        evalset = evalset.where(
            lambda q: len(stored.get(f"u{q.user_id}", ())) == len(evalset.users[q.user_id])
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        vectors = await embed_set(evalset, embedder, model, cache_dir, progress)
        if stretch_days is not None:
            evalset = evalset.stretched(stretch_days)
        evaluator = Evaluator(evalset, vectors)
        rankings = await evaluator.hybrid(config or RetrieverConfig(), progress)
        for name, other in (extra or {}).items():
            rankings |= await evaluator.hybrid(other, progress, label=name)
    rankings |= evaluator.baselines()
    results = evaluator.score(rankings)
    part = f", split {split}" if split else ""
    part += ", dated questions" if dated_only else ""
    part += ", cached users" if cached_only else ""
    part += f", spread over {stretch_days:g} days" if stretch_days is not None else ""
    render(
        results,
        console,
        f"recall of {len(evalset.questions)} questions ({data.name}{part}, {model})",
    )
    losses = verdicts(results)
    if losses:
        console.print("hybrid does NOT beat the baselines on: " + "; ".join(losses))
    else:
        console.print(
            "hybrid beats BM25 and dense at @5 and @10, overall and on every type with 20+ "
            "questions"
        )
    return results


# The retriever's configuration before issue 16 (raw cosine rescaled + 0.2 x BM25 scaled to
# the best match + recency 0.2), kept to show what the refit changed, in the same run.
PREVIOUS = RetrieverConfig(
    dense_weight=1.0,
    lexical_weight=0.2,
    lexical_scale="best",
    recency_weight=0.2,
    now_recency_weight=0.2,
    neighbour_weight=0.0,
    expansion_weight=0.0,
    date_weight=0.0,
    supersede_weight=0.0,
    now_supersede_weight=0.0,
    language_shift=0.0,
)
