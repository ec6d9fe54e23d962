"""How long the check-in scheduler's lease claim takes as the job collection grows.

`JobStore.claim` reads a few due jobs from the `state_due` index and takes one with an update
conditional on its lease being free (`lease_until <= now`). Baselines in the same run, on the
same server and data: a plain `find_one` by `_id` (one round trip), and the obvious single
`findOneAndUpdate` over `{state: pending, due_at <= now, lease missing or expired}` sorted by
`due_at` (what the claim was first). Run on the embedded SecantusDB (the default deployment).

    .venv/bin/python benchmarks/outreach_claims.py [--sizes 0,1000,5000] [--claims 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument

from companion.outreach.store import FREE, JobStore
from companion.storage import collections as c
from companion.storage.embedded import EmbeddedMongoServer
from companion.storage.indexes import ensure_indexes

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def job(n: int, due: datetime) -> dict[str, Any]:
    return {
        "_id": f"silence:{n}",
        "kind": "silence",
        "user_id": n,
        "persona_id": "anna",
        "due_at": due,
        "scheduled_at": due,
        "state": "pending",
        "attempts": 0,
        "lease_token": None,
        "lease_until": FREE,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def measure(uri: str, size: int, claims: int) -> tuple[float, float, float]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client[f"bench_{size}"]
    try:
        await ensure_indexes(db)
        jobs = db[c.OUTREACH_JOBS]
        # `size` jobs due next week (the silence jobs of active users), `claims` due now.
        later = [job(n, NOW + timedelta(days=7)) for n in range(size)]
        due = [job(10_000_000 + n, NOW - timedelta(minutes=n)) for n in range(claims)]
        for chunk in range(0, len(later), 1000):
            await jobs.insert_many(later[chunk : chunk + 1000])
        await jobs.insert_many(due)
        store = JobStore(db)
        baseline: list[float] = []
        for n in range(claims):
            started = time.perf_counter()
            await jobs.find_one({"_id": f"silence:{10_000_000 + n}"})
            baseline.append(time.perf_counter() - started)
        one_call: list[float] = []
        for _ in range(claims):
            started = time.perf_counter()
            claimed_doc = await jobs.find_one_and_update(
                {
                    "state": "pending",
                    "due_at": {"$lte": NOW},
                    "$or": [{"lease_until": None}, {"lease_until": {"$lte": NOW}}],
                },
                {"$set": {"lease_until": NOW + timedelta(minutes=5)}},
                sort=[("due_at", 1)],
                return_document=ReturnDocument.AFTER,
            )
            one_call.append(time.perf_counter() - started)
            assert claimed_doc is not None
        # Free them again for the claim under test.
        await jobs.update_many({"user_id": {"$gte": 10_000_000}}, {"$set": {"lease_until": FREE}})
        timings: list[float] = []
        for _ in range(claims):
            started = time.perf_counter()
            claimed = await store.claim(NOW, 300)
            timings.append(time.perf_counter() - started)
            assert claimed is not None
        assert await store.claim(NOW, 300) is None
        return (
            statistics.median(baseline) * 1000,
            statistics.median(one_call) * 1000,
            statistics.median(timings) * 1000,
        )
    finally:
        await client.drop_database(db.name)
        await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1000,5000")
    parser.add_argument("--claims", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongoServer(Path(tmp) / "db")
        uri = server.start()
        try:
            print("median ms per call, on the embedded SecantusDB")
            header = ("jobs not due", "find_one _id", "findOneAndUpdate", "claim")
            print(f"{header[0]:>13} {header[1]:>13} {header[2]:>17} {header[3]:>8}")
            for size in (int(s) for s in args.sizes.split(",")):
                base, one_call, claim = await measure(uri, size, args.claims)
                print(f"{size:>13} {base:>13.2f} {one_call:>17.2f} {claim:>8.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
