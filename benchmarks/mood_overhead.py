"""What mood costs a reply, and how fast the background reader stores readings.

On the reply's path there are two things: `MoodCare.needs_care` before the prompt (a cached
answer, or, on a miss, the user's readings of the window read and opened) and
`MoodTracker.observe` after it (a queue put). Baseline in the same run: one indexed `find_one`
round trip on the same embedded MongoDB-wire server, the cheapest thing a turn does there.
Off the path: readings stored per second, one per batch against batches of 16, with an instant
reader (the classifier's own speed is benchmarks/mood_classifier.py).

    .venv/bin/python benchmarks/mood_overhead.py [--users 50] [--per-day 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from companion.config import MoodCareSettings, SurveySettings
from companion.domain.models import Conversation, User
from companion.domain.personas import Persona
from companion.mood.care import MoodCare
from companion.mood.emotions import Emotion, EmotionReading
from companion.mood.store import MoodStore, StoredReading
from companion.mood.survey import SurveyService
from companion.mood.tracker import MoodTracker
from companion.mood.trends import sustained_negative
from companion.storage.crypto import AesGcmCipher
from companion.storage.embedded import EmbeddedMongoServer
from companion.storage.indexes import ensure_indexes

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
SAD = EmotionReading(frozenset({Emotion.SADNESS}), {Emotion.SADNESS: 0.9})


class InstantReader:
    def read(self, texts: Sequence[str]) -> list[EmotionReading]:
        return [SAD for _ in texts]


def persona() -> Persona:
    return Persona.model_validate(
        {
            "id": "anna",
            "name": {"en": "Anna"},
            "module": "support",
            "languages": ["en"],
            "preview": {"en": "p"},
            "description": "d",
            "personality": "p",
            "speaking_style": "s",
            "scenario": "c",
            "greetings": {"en": ["Hi"]},
        }
    )


def row(label: str, samples_ms: list[float]) -> str:
    p50 = statistics.median(samples_ms)
    p99 = statistics.quantiles(samples_ms, n=100)[98] if len(samples_ms) > 1 else p50
    return f"{label:<44} p50 {p50:8.3f} ms   p99 {p99:8.3f} ms"


async def main(users: int, per_day: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongoServer(Path(tmp) / "db")
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.start(), tz_aware=True)
        try:
            db = client["bench"]
            await ensure_indexes(db)
            cipher = AesGcmCipher(b"k" * 32)
            store = MoodStore(db, cipher)
            settings = MoodCareSettings()
            care = MoodCare(store, settings, lambda: NOW)
            people = [User(id=user_id, language="en") for user_id in range(users)]
            for user in people:
                readings = [
                    StoredReading(
                        user.id,
                        NOW - timedelta(days=day, minutes=m),
                        (NOW - timedelta(days=day)).date().isoformat(),
                        "anna",
                        "support",
                        f"c{user.id}",
                        SAD,
                    )
                    for day in range(settings.window_days)
                    for m in range(per_day)
                ]
                await store.add_many(readings)
                await care.add(user, readings)  # what the background reader keeps
                await db["users"].insert_one({"_id": user.id})

            baseline, window, cold, warm = [], [], [], []
            other_worker = MoodCare(store, settings, lambda: NOW)  # nothing cached yet
            for user in people:
                started = time.perf_counter()
                await db["users"].find_one({"_id": user.id})
                baseline.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                series = await care.series(user, settings.window_days)
                assert sustained_negative(series, window_days=7, negative_days=5)
                window.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                assert await other_worker.needs_care(user)
                cold.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                assert await other_worker.needs_care(user)
                warm.append((time.perf_counter() - started) * 1000)

            count = settings.window_days * per_day
            print(f"{users} users, {count} readings each in the {settings.window_days}-day window")
            print(row("baseline: one find_one round trip", baseline))
            print(row("alternative: read + open the window's readings", window))
            print(row("needs_care, not cached (sealed day counts)", cold))
            print(row("needs_care, cached in this process", warm))

            survey = SurveyService(db, cipher, store, SurveySettings(enabled=False), lambda: NOW)
            for batch in (1, 16):
                tracker = MoodTracker(
                    store=store,
                    reader=InstantReader(),
                    care=care,
                    survey=survey,
                    settings=MoodCareSettings(batch_size=batch, queue_limit=100_000),
                    clock=lambda: NOW,
                )
                conversation = Conversation(id="c", user_id=0, persona_id="anna")
                count = 2000
                started = time.perf_counter()
                put = []
                for n in range(count):
                    t0 = time.perf_counter()
                    tracker.observe(people[n % users], persona(), conversation, "text")
                    put.append((time.perf_counter() - t0) * 1000)
                await tracker.idle()
                elapsed = time.perf_counter() - started
                await tracker.close()
                if batch == 1:
                    print(row("observe() on the reply's path (queue put)", put))
                print(f"background: batch {batch:>2}: {count / elapsed:8.0f} readings/s stored")
        finally:
            await client.close()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--per-day", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.per_day))
