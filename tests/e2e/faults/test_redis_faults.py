"""The real bot process while its Redis is killed and restarted, or stalled (issue 13)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.faults.harness import FaultWorld

RECOVERY_S = 10.0


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[FaultWorld]:
    async with FaultWorld.open(tmp_path, database="external", llm_reply="Right here.") as opened:
        yield opened


async def test_redis_killed_and_restarted(world: FaultWorld) -> None:
    user = await world.chatting_user(7101)
    world.redis.kill()
    status, body = await world.http_get("/readyz")
    assert status == 503 and body["checks"]["redis"] is False
    assert await world.http_status("/healthz") == 200

    await user.say("Are you there while Redis is down?")
    await asyncio.sleep(3)
    # Telegram was told to come back later (503), not given an apology.
    assert any(d.status == 503 for d in world.tg.deliveries)
    assert not world.apologies(user)

    world.redis.start()
    recovered = time.monotonic()
    answered = await world.answered(user, "Right here.", timeout=30)
    assert answered - recovered < RECOVERY_S
    await world.wait_until(lambda: world.http_status("/readyz"), 200, timeout=RECOVERY_S)

    # Once, not twice; and the next message is answered at once.
    await user.idle(1.0)
    assert len([c for c in user.calls("sendMessage") if "Right here." in (c.text or "")]) == 1
    await user.say("And now?")
    await world.answered(user, "Right here.", timeout=RECOVERY_S)
    assert not world.apologies(user)


async def test_redis_stalled(world: FaultWorld) -> None:
    user = await world.chatting_user(7102)
    # As in the report: Redis restarts, then stalls for a few seconds.
    world.redis.restart()
    world.redis.stall()
    try:
        await user.say("Hello during a stall")
        # A stalled Redis accepts connections but answers nothing: readiness says so.
        await world.wait_until(lambda: world.http_status("/readyz"), 503, timeout=5)
        await asyncio.sleep(3)
    finally:
        world.redis.resume()
    resumed = time.monotonic()
    answered = await world.answered(user, "Right here.", timeout=30)
    assert answered - resumed < RECOVERY_S
    # The user's lock was not left behind: the next message is answered within seconds.
    await user.say("And again")
    again = time.monotonic()
    assert await world.answered(user, "Right here.", timeout=30) - again < RECOVERY_S
    assert not world.apologies(user)
