"""`companion bot` as an operator runs it: settings from the environment, the composition root,
billing, voice and the dispatcher wired together, long polling against the Bot API emulator."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest

from companion.cli.bot import _serve
from companion.config import load_settings
from tests.conftest import REDIS_URL
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram.client import TelegramUser
from tests.emulators.telegram.server import TelegramBotAPIEmulator


async def test_bot_command_serves_a_conversation_by_polling(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    async with TelegramBotAPIEmulator() as tg, OpenAIEmulator(reply="Hi! So glad you came.") as llm:
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
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        serving = asyncio.create_task(_serve(settings, webhook=False, api_server=None))
        try:
            user = TelegramUser(tg, 5151, first_name="Oleg", language_code="en")
            # The menu is set at start-up, in both languages.
            await tg.wait_for(lambda call: call.method == "setMyCommands", timeout=120)
            await user.command("start")
            first = await user.expect(("sendMessage", "editMessageText"), timeout=60)
            assert first.text
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        # Cancelling the bot stops its getUpdates loop too (aiogram's own would poll on, and
        # log connection errors into whatever runs next in this process).
        pollers = [t for t in asyncio.all_tasks() if _qualname(t) == "Dispatcher._polling"]
        assert pollers == []


def _qualname(task: asyncio.Task[object]) -> str:
    return str(getattr(task.get_coro(), "__qualname__", ""))
