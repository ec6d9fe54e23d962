"""Webhook mode: the secret token is checked, several workers serve one bot, graceful shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from companion.config import Settings
from tests.e2e.bot.conftest import WEBHOOK_SECRET, BotHarness, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator


@pytest.fixture
async def hook(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    async with running_bot(bot_settings, tg, llm, mongo_uri, webhook=True) as harness:
        yield harness


def _update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Eve", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1,
            "from": user,
            "chat": {"id": user_id, "type": "private", "first_name": "Eve"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_webhook_serves_updates_with_the_secret(hook: BotHarness) -> None:
    assert hook.tg.webhook is not None
    assert hook.tg.webhook["secret_token"] == WEBHOOK_SECRET
    assert "message" in hook.tg.webhook["allowed_updates"]
    user = hook.user(5001)
    await hook.onboard(user)
    await hook.choose(user, "mark")
    hook.llm.reply = "Webhook reply."
    await user.say("Hi over the webhook")
    await user.expect("sendMessage", contains="Webhook reply.")
    assert all(d.status == 200 for d in hook.tg.deliveries)


@pytest.mark.parametrize("secret", [None, "wrong-secret", WEBHOOK_SECRET + "x"])
async def test_wrong_secret_token_is_rejected_and_nothing_processed(
    hook: BotHarness, secret: str | None
) -> None:
    assert hook.webhook_url is not None
    hook.tg.register_user({"id": 5002, "is_bot": False, "first_name": "Eve"})
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    async with aiohttp.ClientSession() as session:
        async with session.post(
            hook.webhook_url, data=json.dumps(_update(9001, 5002, "/start")), headers=headers
        ) as response:
            assert response.status in (401, 403)
        await asyncio.sleep(0.5)
        assert hook.tg.calls_for(5002) == []
        assert hook.llm.chat_requests == []
        # The same update with the right secret is processed: the check, not the update, failed.
        headers["X-Telegram-Bot-Api-Secret-Token"] = WEBHOOK_SECRET
        async with session.post(
            hook.webhook_url, data=json.dumps(_update(9002, 5002, "/start")), headers=headers
        ) as response:
            assert response.status == 200
    _, call = await hook.tg.wait_for(lambda c: c.chat_id == 5002)
    assert "Choose your language" in (call.text or "")


async def test_two_workers_keep_each_users_order(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    """Two webhook workers (separate dispatchers and clients, shared Redis and MongoDB) behind a
    round-robin balancer: a user's second message waits for the first reply."""
    async with (
        running_bot(bot_settings, tg, llm, mongo_uri, webhook=True) as first,
        running_bot(bot_settings, tg, llm, mongo_uri, webhook=True) as second,
    ):
        user = first.user(5003)
        await first.onboard(user)
        await first.choose(user, "mark")
        assert first.webhook_url and second.webhook_url
        tg.webhook_targets = [first.webhook_url, second.webhook_url]

        def echo(body: dict[str, Any]) -> str:
            return f"You said {body['messages'][-1]['content']} - nice."

        llm.reply = echo
        llm.token_delay_s = 0.05
        await user.say("one")
        await user.expect("sendMessageDraft")  # "one" is being answered by one worker...
        await user.say("two")  # ...when "two" reaches the other one
        first_reply = await user.expect("sendMessage", contains="You said one - nice.")
        second_reply = await user.expect("sendMessage", contains="You said two - nice.")
        drafts_of_two = [c for c in user.calls("sendMessageDraft") if "two" in (c.text or "")]
        assert all(c.at > first_reply.at for c in drafts_of_two)
        assert second_reply.at > first_reply.at
        urls = {d.url for d in tg.deliveries[-2:]}
        assert urls == {first.webhook_url, second.webhook_url}
        second_request = [m["content"] for m in llm.chat_requests[-1]["messages"]]
        assert "one" in second_request and "You said one - nice." in second_request


async def test_shutdown_finishes_replies_in_flight(hook: BotHarness) -> None:
    user = hook.user(5004)
    await hook.onboard(user)
    await hook.choose(user, "mark")
    hook.llm.reply = "A slow but complete answer that takes a while to write out fully."
    hook.llm.token_delay_s = 0.1  # ~1.3 s
    await user.say("Tell me something")
    await user.expect("sendMessageDraft")
    assert hook.webhook_runner is not None
    runner, hook.webhook_runner = hook.webhook_runner, None
    await runner.cleanup()  # what SIGTERM does in run_webhook
    final = await user.expect("sendMessage", contains="takes a while", timeout=1)
    assert final.ok


async def test_worker_takes_no_more_updates_than_its_limit(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    bot_settings.telegram.max_concurrent_updates = 1
    async with running_bot(bot_settings, tg, llm, mongo_uri, webhook=True) as hook:
        first, second = hook.user(5005), hook.user(5006)
        for user in (first, second):
            await hook.onboard(user)
            await hook.choose(user, "mark")
            user.skip()
        llm.reply = "One slow reply, word by word, for the limit test."
        llm.token_delay_s = 0.1
        await first.say("first")
        await first.expect("sendChatAction")
        await second.say("second")
        done = await first.expect("sendMessage", contains="limit test")
        started = await second.expect("sendChatAction")
        assert started.at >= done.at  # the second update waited for a free slot
        await second.expect("sendMessage", contains="limit test")
