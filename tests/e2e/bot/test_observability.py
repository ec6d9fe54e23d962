"""What an operator sees of a conversation: /metrics counts the updates, replies, tokens, stages
and failures of a real exchange through the bot; the legal pages the consent screen links to
are served by the worker's own web server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from companion.cli.bot import _serve
from companion.config import Settings, load_settings
from companion.metrics_server import serving_metrics
from tests.conftest import REDIS_URL
from tests.e2e.bot.conftest import BotHarness, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator
from tests.emulators.telegram.server import free_port


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def counted(registry: CollectorRegistry, name: str, value: float, **labels: str) -> None:
    """Wait for a sample to reach `value`: the handler counts after the user saw the reply."""
    deadline = asyncio.get_running_loop().time() + 20
    while sample(registry, name, **labels) != value:
        assert asyncio.get_running_loop().time() < deadline, (
            name,
            labels,
            sample(registry, name, **labels),
        )
        await asyncio.sleep(0.05)


async def scrape(registry: CollectorRegistry) -> str:
    port = free_port()
    async with (
        serving_metrics(registry, port, host="127.0.0.1"),
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/plain"
        return await response.text()


async def test_a_conversation_shows_in_the_metrics(harness: BotHarness) -> None:
    registry = harness.container.metrics.registry
    user = harness.user(7101)
    await harness.onboard(user)
    await harness.choose(user, "mark")
    harness.llm.reply = "Glad to hear it."
    await user.say("I work as a nurse in Kazan.")
    await user.expect("sendMessage", contains="Glad to hear it.")

    assert sample(registry, "companion_updates_total", type="message") >= 2
    assert sample(registry, "companion_updates_total", type="callback_query") >= 1
    await counted(registry, "companion_replies_total", 1, outcome="replied")
    assert sample(registry, "companion_llm_tokens_total", kind="completion") > 0
    assert sample(registry, "companion_llm_tokens_total", kind="prompt") > 0
    for stage in ("prepare", "first_token", "reply", "lock_wait"):
        assert sample(registry, "companion_stage_seconds_count", stage=stage) == 1, stage
    await counted(registry, "companion_updates_in_flight", 0)

    # The model refuses the next request: the user gets an apology, the reply counts as failed.
    harness.llm.fail_next(1, status=400)
    await user.say("And you?")
    await user.expect("sendMessage", contains="")
    await counted(registry, "companion_replies_total", 1, outcome="failed")

    text = await scrape(registry)
    assert 'companion_replies_total{outcome="replied"} 1.0' in text
    assert "companion_stage_seconds_bucket" in text


@pytest.fixture
async def webhook_harness(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    async with running_bot(bot_settings, tg, llm, mongo_uri, webhook=True) as harness:
        yield harness


async def test_the_webhook_worker_serves_the_legal_pages(webhook_harness: BotHarness) -> None:
    assert webhook_harness.webhook_url is not None
    origin = webhook_harness.webhook_url.rsplit("/telegram", 1)[0]
    async with aiohttp.ClientSession() as http:
        for document in ("terms", "privacy", "offer"):
            async with http.get(f"{origin}/legal/{document}?lang=en") as response:
                assert response.status == 200, document
                assert "Companion" in await response.text()
        async with http.get(f"{origin}/legal/terms", headers={"Accept-Language": "ru"}) as r:
            assert "Пользовательское соглашение" in await r.text()


async def test_the_bot_command_serves_metrics_on_metrics_port(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = free_port()
    async with TelegramBotAPIEmulator() as tg, OpenAIEmulator() as llm:
        env = {
            "COMPANION_TELEGRAM__TOKEN": tg.token,
            "COMPANION_TELEGRAM__API_SERVER": tg.base_url,
            "COMPANION_MONGO__URI": mongo_uri,
            "COMPANION_MONGO__DATABASE": f"t_{uuid.uuid4().hex[:10]}",
            "COMPANION_REDIS__URL": REDIS_URL,
            "COMPANION_REDIS__KEY_PREFIX": f"test:{uuid.uuid4().hex[:8]}",
            "COMPANION_LLM__BACKEND": "openai",
            "COMPANION_LLM__BASE_URL": llm.base_url,
            "COMPANION_MEMORY__ENABLED": "false",
            "COMPANION_PRIVACY__ENCRYPT_AT_REST": "false",
            "COMPANION_SPEECH__CACHE_DIR": str(tmp_path),
            "COMPANION_METRICS_PORT": str(port),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        serving = asyncio.create_task(_serve(load_settings(), webhook=False, api_server=None))
        try:
            await tg.wait_for(lambda call: call.method == "setMyCommands", timeout=120)
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/metrics") as response,
            ):
                assert response.status == 200
                text = await response.text()
            assert "companion_replies_total" in text
            assert "companion_speech_notes_total" in text  # one registry for every part
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        # The listener is closed with the bot.
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(f"http://127.0.0.1:{port}/metrics")
