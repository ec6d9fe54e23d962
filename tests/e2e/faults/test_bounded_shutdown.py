"""Stopping never hangs (SIGTERM in Kubernetes, a test's teardown): every wait on the way out
has a limit, even when what it waits for never finishes (companion/shutdown.py).

Real bot through `companion.app.build_app`, real Redis and MongoDB wire server; the model is the
OpenAI-compatible emulator, scripted to never answer some requests (with a client timeout of an
hour, so only the shutdown's own limits can end the wait)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pymongo.errors import InvalidOperation

from companion.config import MemorySettings, Settings
from tests.e2e.bot.conftest import (
    WEBHOOK_SECRET,
    BotHarness,
    make_settings,
    running_bot,
    write_personas,
)
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator

HOUR = 3600.0
# Far above each bound below (a few seconds), far below "forever" (the suite's 300 s timeout).
GENEROUS_S = 30.0


class StuckModel:
    """The model's answers: requests that `stuck` selects wait until the test ends."""

    def __init__(self, stuck: Callable[[dict[str, Any]], bool], reply: str) -> None:
        self.stuck = stuck
        self.reply = reply
        self.asked = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self, body: dict[str, Any]) -> str:
        if not self.stuck(body):
            return self.reply
        self.asked.set()
        await self.released.wait()
        return json.dumps({"facts": []})


def _schema(body: dict[str, Any]) -> str | None:
    name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    return name if isinstance(name, str) else None


def _settings(
    mongo_uri: str,
    prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    tmp_path: Path,
    **changes: Any,
) -> Settings:
    write_personas(tmp_path / "personas")
    telegram = changes.pop("telegram", {})
    settings = make_settings(
        mongo_uri=mongo_uri,
        prefix=prefix,
        llm=llm,
        tg=tg,
        personas_dir=tmp_path / "personas",
        **telegram,
    )
    return settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"request_timeout_s": HOUR}), **changes}
    )


async def _timed(step: Callable[[], Awaitable[Any]]) -> float:
    started = _now()
    await step()
    return _now() - started


def _now() -> float:
    return asyncio.get_running_loop().time()


def _update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    sender = {"id": user_id, "is_bot": False, "first_name": "Eve", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1,
            "from": sender,
            "chat": {"id": user_id, "type": "private", "first_name": "Eve"},
            "text": text,
        },
    }


async def _post(harness: BotHarness, update: dict[str, Any]) -> int:
    assert harness.webhook_url is not None
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=GENEROUS_S)) as http,
        http.post(harness.webhook_url, json=update, headers=headers) as response,
    ):
        return response.status


async def test_closing_the_app_is_bounded_when_a_memory_extraction_never_finishes(
    mongo_uri: str, redis_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    model = StuckModel(lambda body: _schema(body) == "memory_facts", reply="Glad to hear it.")
    async with TelegramBotAPIEmulator() as tg, OpenAIEmulator(reply=model) as llm:
        settings = _settings(
            mongo_uri,
            redis_prefix,
            llm,
            tg,
            tmp_path,
            # A pass after every exchange, with the offline embedder shipped in the package.
            memory=MemorySettings(
                enabled=True, embedding_model="packaged-minilm", extract_every_turns=1
            ),
            shutdown_step_timeout_s=2.0,
        )
        try:
            async with running_bot(settings, tg, llm, mongo_uri) as harness:
                user = harness.user(7101)
                await harness.onboard(user)
                await harness.choose(user, "mark")
                await user.say("I work as a nurse in Kazan.")
                # The first reply loads the embedder (recall) on a shared machine: be patient.
                await user.expect("sendMessage", contains="Glad to hear it.", timeout=120)
                await asyncio.wait_for(model.asked.wait(), 60)  # the pass waits on the model
                stopping = _now()
            # Before: MemoryLearner.drain waited for the pass forever.
            elapsed = _now() - stopping
        finally:
            model.released.set()
    assert elapsed < GENEROUS_S
    assert "memory pass of conversation" in caplog.text  # named in the log, then cancelled
    assert "MemoryService.aclose" in caplog.text
    # The closes after the stuck one still ran: the database client is closed.
    with pytest.raises(InvalidOperation):
        await harness.container.database.db.command("ping")


async def test_webhook_shutdown_is_bounded_when_a_reply_never_finishes(
    mongo_uri: str, redis_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    model = StuckModel(lambda body: _schema(body) is None, reply="")
    async with TelegramBotAPIEmulator() as tg, OpenAIEmulator(reply=model) as llm:
        settings = _settings(
            mongo_uri,
            redis_prefix,
            llm,
            tg,
            tmp_path,
            telegram={"shutdown_timeout_s": 1.0, "max_concurrent_updates": 1},
        )
        try:
            async with running_bot(settings, tg, llm, mongo_uri, webhook=True) as harness:
                user = harness.user(7201)
                await harness.onboard(user)
                await harness.choose(user, "mark")
                # The worker's one slot: a reply stuck on the model.
                assert await _post(harness, _update(95_001, 7201, "Hello")) == 200
                await asyncio.wait_for(model.asked.wait(), 30)
                # The next update waits for that slot while the worker is told to stop.
                waiting = asyncio.create_task(_post(harness, _update(95_002, 7201, "Still?")))
                await asyncio.sleep(0.5)
                assert not waiting.done()
                assert harness.webhook_runner is not None
                runner, harness.webhook_runner = harness.webhook_runner, None
                # Before: the stuck reply was never cancelled, the waiting request held the
                # server's shutdown for 2 x 60 s, then the update was claimed and lost.
                elapsed = await _timed(runner.cleanup)  # what SIGTERM does in run_webhook

                assert elapsed < GENEROUS_S
                # Not claimed: Telegram sends it again, to a worker still up.
                assert await waiting == 503
                assert not await harness.redis.exists(f"{redis_prefix}:bot:update:95002")
                # The cut reply was answered 200 already: it is handed to another worker, due
                # now (not when its lease would end), with the update as it arrived.
                queued = await harness.redis.zrange(
                    f"{redis_prefix}:bot:updates:retry", 0, -1, withscores=True
                )
                assert [member for member, _ in queued] == [b"held:95001"]
                assert queued[0][1] <= time.time()
                held = await harness.redis.hget(f"{redis_prefix}:bot:updates:held", "95001")
                assert json.loads(held)["u"]["message"]["text"] == "Hello"
                left = [t.get_name() for t in asyncio.all_tasks() if t.get_name() == "update 95001"]
                assert left == []
        finally:
            model.released.set()
    assert "webhook update(s) did not finish within the limit" in caplog.text
