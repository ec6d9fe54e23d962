"""Recovery times of the real bot (`companion bot --webhook`, a child process) under faults.

Each scenario starts the bot against the Bot API emulator (which repeats failed webhook
deliveries like Telegram, pauses 1, 1, 2, 2, 2, 2, 3, ... s), a private Redis, and a private or
the bot's embedded SecantusDB; a user past onboarding sends a message while a dependency is
down, and the script prints:

- detect: fault injected -> `/readyz` answers 503 (not for the embedded database, which is back
  before a probe notices);
- answered: dependency back -> the reply to the message sent during the outage is on screen;
- next: a message sent after recovery -> its reply (the steady state is back).

Scenarios: LLM server killed mid-stream (and restarted after the outage), Redis killed and
restarted, Redis restarted then stalled (SIGSTOP/SIGCONT), the external database killed and
restarted, the embedded database killed (the bot's supervisor restarts it), the bot's own
worker killed (SIGKILL) mid-reply and started again after the outage ("answered" then counts
from the restart: the held update waits for its lease, `telegram.update_hold_lease_s`, 15 s
by default, to run out, then is answered in full).

    .venv/bin/python benchmarks/faults.py [--outage 5] [--repeat 1] [--only redis-kill ...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.faults.harness import FaultWorld, story_world

Row = dict[str, float | None]
STORY = " ".join(["Once upon a time there was a quiet harbour town by the sea."] * 12)


async def _detect(world: FaultWorld) -> float:
    started = time.monotonic()
    await world.wait_until(lambda: world.http_status("/readyz"), 503, timeout=30)
    return time.monotonic() - started


async def _next(world: FaultWorld, user_id: int, reply: str) -> float:
    user = world.user(user_id)
    user.cursor = len(world.tg.calls)
    await user.say("And now?")
    sent = time.monotonic()
    return await world.answered(user, reply, timeout=60) - sent


async def llm_kill(tmp: Path, outage: float) -> Row:
    async with story_world(tmp, STORY, token_delay_s=0.1) as (world, llm):
        user = await world.chatting_user(8001)
        await user.say("Tell me a story")
        await user.expect("sendMessageDraft", contains="harbour", timeout=30)
        killed = time.monotonic()
        llm.kill()
        polite = await world.answered(user, "couldn't finish", timeout=30) - killed
        detect = await _detect(world)
        await user.say("Are you back?")
        await asyncio.sleep(outage)
        await llm.start(reply="Back again.")
        back = time.monotonic()
        answered = await world.answered(user, "Back again.", timeout=60) - back
        return {
            "detect": detect,
            "polite message": polite,
            "answered": answered,
            "next": await _next(world, 8001, "Back again."),
        }


async def redis_kill(tmp: Path, outage: float) -> Row:
    async with FaultWorld.open(tmp, database="external", llm_reply="Right here.") as world:
        user = await world.chatting_user(8002)
        world.redis.kill()
        detect = await _detect(world)
        await user.say("Are you there?")
        await asyncio.sleep(outage)
        world.redis.start()
        back = time.monotonic()
        answered = await world.answered(user, "Right here.", timeout=60) - back
        return {"detect": detect, "answered": answered, "next": await _next(world, 8002, "Right")}


async def redis_stall(tmp: Path, outage: float) -> Row:
    async with FaultWorld.open(tmp, database="external", llm_reply="Right here.") as world:
        user = await world.chatting_user(8003)
        world.redis.restart()
        world.redis.stall()
        try:
            await user.say("Hello during a stall")
            detect = await _detect(world)
            await asyncio.sleep(max(0.0, outage - detect))
        finally:
            world.redis.resume()
        back = time.monotonic()
        answered = await world.answered(user, "Right here.", timeout=60) - back
        return {"detect": detect, "answered": answered, "next": await _next(world, 8003, "Right")}


async def database_kill(tmp: Path, outage: float) -> Row:
    async with FaultWorld.open(tmp, database="external", llm_reply="Right here.") as world:
        assert world.mongo is not None
        user = await world.chatting_user(8004)
        world.mongo.kill()
        detect = await _detect(world)
        await user.say("Hello while the database is down")
        await asyncio.sleep(outage)
        world.mongo.start()
        back = time.monotonic()
        answered = await world.answered(user, "Right here.", timeout=60) - back
        return {"detect": detect, "answered": answered, "next": await _next(world, 8004, "Right")}


async def embedded_kill(tmp: Path, outage: float) -> Row:
    async with FaultWorld.open(tmp, database="embedded", llm_reply="Right here.") as world:
        user = await world.chatting_user(8005)
        first = world.kill_embedded()
        killed = time.monotonic()
        await user.say("Hello right after the crash")

        async def restarted() -> bool:
            try:
                return world.embedded_pid() != first
            except (OSError, ValueError):
                return False

        await world.wait_until(restarted, True, timeout=60)
        back = time.monotonic()
        await world.wait_until(lambda: world.http_status("/readyz"), 200, timeout=60)
        ready = time.monotonic()
        answered_at = await world.answered(user, "Right here.", timeout=60)
        return {
            "restarted": back - killed,
            "ready": ready - killed,
            "answered": answered_at - back,
            "next": await _next(world, 8005, "Right"),
        }


async def worker_kill(tmp: Path, outage: float) -> Row:
    short_story = " ".join(STORY.split(". ")[:3])
    async with story_world(tmp, short_story, token_delay_s=0.1) as (world, _llm):
        user = await world.chatting_user(8006)
        await user.say("Tell me a story")
        await user.expect("sendMessageDraft", contains="harbour", timeout=30)
        await world.kill_bot()
        killed = time.monotonic()
        await asyncio.sleep(outage)
        restart = time.monotonic()
        await world.restart_bot()
        ready = time.monotonic()
        answered_at = await world.answered(user, "harbour", timeout=120)
        return {
            "restart to /healthz": ready - restart,
            "answered after the kill": answered_at - killed,
            "answered after the restart": answered_at - restart,
            "next": await _next(world, 8006, "harbour"),
        }


SCENARIOS: dict[str, Callable[[Path, float], Awaitable[Row]]] = {
    "llm-kill": llm_kill,
    "redis-kill": redis_kill,
    "redis-stall": redis_stall,
    "database-kill": database_kill,
    "embedded-kill": embedded_kill,
    "worker-kill": worker_kill,
}


def _fmt(values: list[float | None]) -> str:
    numbers = [v for v in values if v is not None]
    if not numbers:
        return "-"
    if len(numbers) == 1:
        return f"{numbers[0]:.2f} s"
    return f"{statistics.median(numbers):.2f} s (max {max(numbers):.2f})"


async def main(args: argparse.Namespace) -> None:
    names = args.only or list(SCENARIOS)
    print(f"outage {args.outage:g} s, {args.repeat} run(s) per scenario; times in seconds")
    for name in names:
        rows: list[Row] = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as tmp:
                rows.append(await SCENARIOS[name](Path(tmp), args.outage))
        keys = list(rows[0])
        cells = ", ".join(f"{key} {_fmt([row[key] for row in rows])}" for key in keys)
        print(f"{name:14s} {cells}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage", type=float, default=5.0, help="seconds a dependency is down")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS))
    asyncio.run(main(parser.parse_args()))
