"""The owner's reports (`companion.analytics`) at two sizes, raw against the daily rollups.

A SecantusDB server (the embedded MongoDB-wire server, indexes as the bot creates them) is
bulk-loaded with synthetic data spread over 90 days: `--users` people, `--events`
funnel/paywall/billing events, `--messages` messages (half the people's, half the replies; 5 %
voice notes), and payments, subscriptions and subscription changes in proportion. The same data
at `--small` of that size is loaded into a second database first, to show how cost grows. Each
report is timed over the last 7, 30 and 90 days three ways in the same run: raw (the reference
aggregation over the raw collections, `AnalyticsService(raw=True)`, what the reports did before
the rollups of people), rollups cold (no daily rollups kept yet: they are dropped first) and
rollups warm (best of `--repeat` runs after); the chart of the 30-day report is rendered once.

    .venv/bin/python benchmarks/analytics_reports.py [--users 10000] [--events 1000000]
        [--messages 1000000] [--small 0.1] [--repeat 3] [--no-index-check]
        [--keep DIR] [--load-only]

`--keep DIR` keeps the server's data in DIR: a later run with the same sizes reuses what was
loaded (loading 1M events and 1M messages takes ~15-20 min here); `--load-only` stops after
loading. `--no-index-check` skips the extra measurement of the activity report with the
`messages.role_created` index dropped (what the index buys).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from companion.analytics.charts import render
from companion.analytics.period import Period
from companion.analytics.reports import REPORTS
from companion.analytics.service import AnalyticsService
from companion.personas.repository import PersonaRepository, packaged_library_dir
from companion.storage import collections as c
from companion.storage.crypto import PlaintextCipher
from companion.storage.embedded import EmbeddedMongoServer
from companion.storage.indexes import ensure_indexes
from companion.storage.people_sets import forget_person

console = Console(highlight=False, width=150)
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SPAN_DAYS = 90
BATCH = 10_000
# Funnel, paywall and billing events, by share of the total.
EVENT_MIX = [
    ("persona_chosen", 0.30),
    ("paywall_shown", 0.40),
    ("first_message", 0.05),
    ("tenth_message", 0.04),
    ("payment_created", 0.08),
    ("paid", 0.04),
    ("renewed", 0.04),
    ("crisis", 0.01),
    ("cancelled", 0.04),
]


def _when(rng: random.Random, start: datetime) -> datetime:
    span = (NOW - start).total_seconds()
    return start + timedelta(seconds=rng.random() * max(span, 1.0))


async def _insert(db: AsyncDatabase[Any], name: str, docs: list[dict[str, Any]]) -> None:
    for i in range(0, len(docs), BATCH):
        await db[name].insert_many(docs[i : i + BATCH], ordered=False)


async def load(
    db: AsyncDatabase[Any], users: int, events: int, messages: int, progress: Progress
) -> None:
    rng = random.Random(17)
    personas = ["leo", "vera", "kylie", "mark", "dasha", "ilya", "nova-ray", "sherlock-holmes"]
    first = NOW - timedelta(days=SPAN_DAYS)
    joined = {u: _when(rng, first) for u in range(1, users + 1)}
    task = progress.add_task(f"loading {users} users", total=users + events + messages)
    consent = [{"user_id": u, "name": "consent", "at": at, "data": {}} for u, at in joined.items()]
    await _insert(db, c.EVENTS, consent)
    progress.advance(task, users)
    names = [name for name, _ in EVENT_MIX]
    weights = [share for _, share in EVENT_MIX]
    done = 0
    while done < events:
        batch = []
        for name in rng.choices(names, weights, k=min(BATCH, events - done)):
            u = rng.randint(1, users)
            batch.append({"user_id": u, "name": name, "at": _when(rng, joined[u]), "data": {}})
        await db[c.EVENTS].insert_many(batch, ordered=False)
        done += len(batch)
        progress.advance(task, len(batch))
    done = 0
    seq = 0
    while done < messages:
        batch = []
        for _ in range(min(BATCH, messages - done) // 2):
            u = rng.randint(1, users)
            persona = personas[u % len(personas)]
            at = _when(rng, joined[u])
            seq += 2
            for role, offset in (("user", 0), ("assistant", 1)):
                batch.append(
                    {
                        "_id": f"m{seq + offset}",
                        "conversation_id": f"c{u}-{persona}",
                        "user_id": u,
                        "persona_id": persona,
                        "seq": seq + offset,
                        "role": role,
                        "text": "x" * 80,  # stands for the sealed text; never read
                        "source": "voice" if role == "user" and rng.random() < 0.05 else "text",
                        "status": "complete",
                        "created_at": at + timedelta(seconds=offset),
                        "meta": {},
                    }
                )
        if not batch:
            break
        await db[c.MESSAGES].insert_many(batch, ordered=False)
        done += len(batch)
        progress.advance(task, len(batch))
    payers = rng.sample(range(1, users + 1), max(1, users // 5))
    payments, subs, changes = [], [], []
    for n, u in enumerate(payers):
        paid = _when(rng, joined[u])
        provider, currency, amount = (
            ("yookassa", "RUB", "449.00") if n % 3 else ("telegram_stars", "XTR", "250")
        )
        payments.append(
            {
                "_id": f"p{n}",
                "provider": provider,
                "payment_id": f"x{n}",
                "user_id": u,
                "plan_id": "pro_month",
                "kind": "renewal" if n % 4 == 0 else "initial",
                "amount": amount,
                "currency": currency,
                "refunded_amount": "0",
                "status": "succeeded",
                "created_at": paid,
                "paid_at": paid,
            }
        )
        ended = n % 5 == 0
        subs.append(
            {
                "_id": u,
                "user_id": u,
                "plan_id": "pro_month",
                "status": "expired" if ended else "active",
                "current_period_end": paid + timedelta(days=30),
                "version": 1,
            }
        )
        if ended:
            changes.append(
                {
                    "_id": f"k{n}",
                    "user_id": u,
                    "from": "active",
                    "to": "expired",
                    "at": paid + timedelta(days=30),
                }
            )
    await _insert(db, c.PAYMENTS, payments)
    await _insert(db, c.SUBSCRIPTIONS, subs)
    if changes:
        await _insert(db, c.SUBSCRIPTION_TRANSITIONS, changes)


Timings = dict[tuple[str, int], tuple[float, float, float]]


async def _once(analytics: AnalyticsService, name: str, period: Period) -> float:
    started = time.perf_counter()
    await analytics.report(name, period)
    return time.perf_counter() - started


async def time_reports(
    db: AsyncDatabase[Any], raw: AnalyticsService, rolled: AnalyticsService, repeat: int
) -> Timings:
    """(report, days) -> (raw, rollups cold, rollups warm) seconds: raw once, cold with no
    rollups kept (they are dropped first), warm the best of `repeat` runs after it."""
    timings: Timings = {}
    for name in REPORTS:
        for days in (7, 30, 90):
            period = Period.last_days(days, now=NOW)
            raw_s = await _once(raw, name, period)
            await db[c.ANALYTICS_PEOPLE].delete_many({})
            cold = await _once(rolled, name, period)
            warm = min([await _once(rolled, name, period) for _ in range(repeat)])
            timings[(name, days)] = (raw_s, cold, warm)
    return timings


async def _loaded(db: AsyncDatabase[Any], sizes: tuple[int, int, int]) -> float | None:
    """The load time of a kept database loaded with these sizes, else None (it is emptied)."""
    meta = await db["bench_meta"].find_one({"_id": "load"})
    if meta is not None and tuple(meta["sizes"]) == sizes:
        return float(meta["seconds"])
    for name in await db.list_collection_names():
        await db.drop_collection(name)
    return None


async def run(args: argparse.Namespace) -> None:
    library = PersonaRepository(packaged_library_dir())
    library.load_all()
    with contextlib.ExitStack() as stack:
        folder = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = EmbeddedMongoServer(folder / "db")
        server.start()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
        try:
            sizes = {
                "small": (
                    max(1, int(args.users * args.small)),
                    int(args.events * args.small),
                    int(args.messages * args.small),
                ),
                "large": (args.users, args.events, args.messages),
            }
            results: dict[str, Timings] = {}
            load_s: dict[str, float] = {}
            dbs: dict[str, AsyncDatabase[Any]] = {}
            with Progress(console=console) as progress:
                for label, (users, events, messages) in sizes.items():
                    db = client[f"bench_{label}"]
                    dbs[label] = db
                    kept = await _loaded(db, sizes[label])
                    await ensure_indexes(db)  # the index check below drops one
                    if kept is not None:
                        load_s[label] = kept
                        continue
                    started = time.perf_counter()
                    await load(db, users, events, messages, progress)
                    load_s[label] = time.perf_counter() - started
                    meta = {"sizes": list(sizes[label]), "seconds": load_s[label]}
                    await db["bench_meta"].replace_one({"_id": "load"}, meta, upsert=True)
            if args.load_only:
                return
            for label, db in dbs.items():
                common: dict[str, Any] = {
                    "redis": None,
                    "key_prefix": "bench",
                    "clock": lambda: NOW,
                }
                raw = AnalyticsService(db, library, raw=True, **common)
                analytics = AnalyticsService(db, library, **common)
                with console.status(f"timing the reports on {label}…"):
                    results[label] = await time_reports(db, raw, analytics, args.repeat)
                if label == "large":
                    report = await analytics.report("activity", Period.last_days(30, now=NOW))
                    started = time.perf_counter()
                    render(report)
                    chart_s = time.perf_counter() - started
            _print(sizes, load_s, results, chart_s)
            await _erasure(dbs["large"], analytics)
            if not args.no_index_check:
                await _without_index(dbs["large"], library)
        finally:
            await client.close()
            server.stop()


async def _erasure(db: AsyncDatabase[Any], analytics: AnalyticsService) -> None:
    """What an erasure's step over the kept days costs with every report's 90 days kept."""
    for name in REPORTS:
        await analytics.report(name, Period.last_days(90, now=NOW))
    stats = await db.command("collStats", c.ANALYTICS_PEOPLE)
    started = time.perf_counter()
    changed = await forget_person(db, PlaintextCipher().pseudonym, 17)
    console.print(
        f"kept days: {stats.get('count')} documents, {stats.get('size', 0) / 1e6:.1f} MB; "
        f"erasing one person from them: {changed} changed in "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )


async def _without_index(db: AsyncDatabase[Any], library: PersonaRepository) -> None:
    """The activity report (cold, 7 days) with `messages.role_created` dropped: what it buys."""
    analytics = AnalyticsService(db, library, redis=None, key_prefix="bench", clock=lambda: NOW)
    period = Period.last_days(7, now=NOW)
    timings = []
    for _ in range(2):
        await db[c.ANALYTICS_PEOPLE].delete_many({})
        started = time.perf_counter()
        await analytics.report("activity", period)
        timings.append(time.perf_counter() - started)
        if len(timings) == 1:
            await db[c.MESSAGES].drop_index("role_created")
    console.print(
        f"activity, 7 days, large, cold: {timings[0] * 1000:.0f} ms with messages.role_created, "
        f"{timings[1] * 1000:.0f} ms without it"
    )


def _print(
    sizes: dict[str, tuple[int, int, int]],
    load_s: dict[str, float],
    results: dict[str, Timings],
    chart_s: float,
) -> None:
    for label, (users, events, messages) in sizes.items():
        rate = (users + events + messages) / load_s[label]
        console.print(
            f"{label}: {users} users, {events} events, {messages} messages, "
            f"loaded in {load_s[label]:.0f} s ({rate:.0f} documents/s)"
        )
    table = Table(
        "report",
        "days",
        "small raw",
        "small cold",
        "small warm",
        "large raw",
        "large cold",
        "large warm",
        "raw/warm",
        "warm l/s",
        title="milliseconds",
    )
    growth = []
    for name, days in results["small"]:
        small, large = results["small"][(name, days)], results["large"][(name, days)]
        growth.append(large[2] / small[2])
        table.add_row(
            name,
            str(days),
            *(f"{t * 1000:.0f}" for t in (*small, *large)),
            f"{large[0] / large[2]:.0f}×",
            f"{large[2] / small[2]:.1f}×",
        )
    console.print(table)
    console.print(f"median growth, rollups warm, large/small: {statistics.median(growth):.1f}×")
    console.print(f"chart (activity, 30 days) rendered in {chart_s * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--small", type=float, default=0.1, help="the baseline's share")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-index-check", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the loaded data here, reuse it later")
    parser.add_argument("--load-only", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
