"""A memory pass stuck on the model at shutdown is cut at the learner's limit (not waited for
forever), and nothing is lost: after a restart the next pass learns those messages."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from tests.integration.memory.conftest import MemoryWorld, fact

# MemoryLearner.aclose's own limit is 10 s; the model's client would wait 60 s, three times.
BOUND_S = 20.0


def _is_extraction(body: dict[str, Any]) -> bool:
    schema = (body.get("response_format") or {}).get("json_schema") or {}
    return bool(schema.get("name") == "memory_facts")


async def test_a_pass_cut_at_shutdown_is_learned_after_the_restart(
    world: MemoryWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    asked, released = asyncio.Event(), asyncio.Event()

    async def stuck_until_released(body: dict[str, Any]) -> str:
        if _is_extraction(body) and not released.is_set():
            asked.set()
            await released.wait()
            return json.dumps({"facts": []})  # to a client that is gone by then
        return world.script(body)

    world.emulator.reply = stuck_until_released
    user = world.user()
    conversation = await world.conversations.get_or_start(user.id, "anna")
    await world.exchange(conversation, "I work as a nurse in Kazan")
    world.script.extract.append({"facts": [fact("The user works as a nurse in Kazan", "work", 4)]})
    stopping = world.make_service()
    stopping.schedule_extraction(user, conversation)
    try:
        await asyncio.wait_for(asked.wait(), 60)
        # The pass stored its episode, then asked the model, which never answers.
        assert await world.db["episodes"].count_documents({"user_id": 42}) == 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        await stopping.aclose()  # before: waited for the pass forever
        assert loop.time() - started < BOUND_S
    finally:
        released.set()
    assert "memory pass of conversation" in caplog.text
    # Taken back, so the next pass starts before these messages, not after them.
    assert await world.db["episodes"].count_documents({"user_id": 42}) == 0

    restarted = world.make_service()
    try:
        restarted.schedule_extraction(user, conversation)
        await restarted.drain()
        facts = [f.text for f in await restarted.list_facts(42)]
        assert facts == ["The user works as a nurse in Kazan"]
        assert await world.db["episodes"].count_documents({"user_id": 42}) == 1
    finally:
        await restarted.aclose()
