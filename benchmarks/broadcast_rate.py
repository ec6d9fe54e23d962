"""How fast the broadcast worker sends, and what its bookkeeping costs per recipient.

Everything real but Telegram: the embedded SecantusDB, the profiles as the bot stores them,
`BroadcastWorker` with the aiogram sender, over HTTP to the Bot API emulator (which answers at
once). Four runs on the same data:

- **baseline, unpaced**: plain ``send_message`` calls, `--concurrency` in flight, no database:
  the HTTP path's own ceiling;
- **worker, unpaced**: the worker with no pace limit: the ceiling with its bookkeeping (profile
  read, claim and mark, three round trips per recipient); the difference per message to the
  baseline is what the bookkeeping costs;
- **baseline, paced** and **worker, paced** at `--rate` (default 25/s, the shipped setting): the
  rate actually reached, and the most messages Telegram saw in any one second (its bulk limit
  is about 30).

    .venv/bin/python benchmarks/broadcast_rate.py [--recipients 500] [--rate 25] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test emulators
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from pymongo import AsyncMongoClient

from companion.bot.broadcast_sender import AiogramBroadcastSender, BotBroadcastProgress
from companion.broadcasts.models import Content, Segment, SegmentKind
from companion.broadcasts.segments import SegmentQueries
from companion.broadcasts.service import BroadcastService
from companion.broadcasts.store import CampaignStore
from companion.broadcasts.worker import BroadcastWorker, Pacer
from companion.config import BroadcastSettings
from companion.domain.models import User
from companion.i18n import Translator
from companion.storage.embedded import EmbeddedMongoServer
from companion.storage.indexes import ensure_indexes
from companion.storage.users import UserRepository
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator

UNPACED = 1_000_000.0
FIRST_ID = 10_000


def arrivals(tg: TelegramBotAPIEmulator, marker: str) -> list[float]:
    return sorted(
        call.at
        for call in tg.calls
        if call.method == "sendMessage" and call.ok and marker in (call.raw_text or "")
    )


def summary(name: str, times: list[float], wall_s: float) -> tuple[str, float]:
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    peak, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    line = (
        f"{name:<22} {len(times):>5} msgs  {rate:>8.1f} msg/s  {1000 * wall_s / len(times):>7.2f}"
        f" ms/msg wall  busiest second: {peak:>4} msgs"
    )
    return line, wall_s / len(times)


async def baseline(bot: Bot, ids: list[int], marker: str, rate: float, concurrency: int) -> float:
    pacer, slots = Pacer(rate), asyncio.Semaphore(concurrency)

    async def one(uid: int) -> None:
        async with slots:
            await pacer.wait()
            await bot.send_message(uid, marker)

    started = time.perf_counter()
    await asyncio.gather(*(one(uid) for uid in ids))
    return time.perf_counter() - started


async def worker_run(
    db: Any, bot: Bot, users: UserRepository, marker: str, rate: float, concurrency: int
) -> float:
    # model_construct: the unpaced run goes past the setting's 30/s bound on purpose.
    settings = BroadcastSettings.model_construct(
        **{**BroadcastSettings().model_dump(), "rate_per_s": rate, "concurrency": concurrency}
    )
    store = CampaignStore(db)
    worker = BroadcastWorker(store, users, settings)
    translator = Translator()
    worker.attach(AiogramBroadcastSender(bot, translator), BotBroadcastProgress(bot, translator))
    service = BroadcastService(store, SegmentQueries(db))
    draft = await service.draft(Content(text=marker), admin_id=1, admin_language="en")
    progress = await bot.send_message(1, "queued")  # the admin's progress message
    started = time.perf_counter()
    segment = Segment(kind=SegmentKind.ALL)
    await service.confirm(draft.id, segment, chat_id=1, message_id=progress.message_id)
    while await worker.run_once():  # the campaign, then nothing left
        pass
    return time.perf_counter() - started


async def main(recipients: int, rate: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedMongoServer(Path(folder) / "db")
        server.start()
        try:
            await run(server.uri, recipients, rate, concurrency)
        finally:
            server.stop()


async def run(uri: str, recipients: int, rate: float, concurrency: int) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client["bench_broadcast"]
    await ensure_indexes(db)
    users = UserRepository(db)
    ids = list(range(FIRST_ID, FIRST_ID + recipients))
    async with TelegramBotAPIEmulator() as tg:
        for uid in ids:
            tg.register_user({"id": uid, "is_bot": False, "first_name": "U"})
            await users.upsert(User(id=uid, language="en", consent_at=datetime.now(UTC)))
        tg.register_user({"id": 1, "is_bot": False, "first_name": "Admin"})
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        bot = Bot(DEFAULT_TOKEN, session=session)
        runs: list[tuple[str, Callable[[], Awaitable[float]]]] = [
            ("baseline, unpaced", lambda: baseline(bot, ids, "b-free", UNPACED, concurrency)),
            ("worker, unpaced", lambda: worker_run(db, bot, users, "w-free", UNPACED, concurrency)),
            (f"baseline, {rate:g}/s", lambda: baseline(bot, ids, "b-paced", rate, concurrency)),
            (
                f"worker, {rate:g}/s",
                lambda: worker_run(db, bot, users, "w-paced", rate, concurrency),
            ),
        ]
        markers = ["b-free", "w-free", "b-paced", "w-paced"]
        per_message: dict[str, float] = {}
        print(f"{recipients} recipients, {concurrency} sends in flight, Bot API emulator over HTTP")
        try:
            for (name, job), marker in zip(runs, markers, strict=True):
                wall = await job()
                line, per_message[name] = summary(name, arrivals(tg, marker), wall)
                print(line, flush=True)
        finally:
            await session.close()
            await client.drop_database("bench_broadcast")
            await client.close()
    extra = per_message["worker, unpaced"] - per_message["baseline, unpaced"]
    print(f"bookkeeping per recipient (unpaced, wall): {1000 * extra:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.recipients, args.rate, args.concurrency))
