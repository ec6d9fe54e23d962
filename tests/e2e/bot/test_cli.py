"""`companion bot --webhook` as a process against the emulators; SIGTERM stops it cleanly.

(Polling runs in-process in every other test of this folder; one process start is enough here,
importing aiogram alone takes seconds on a busy machine.)"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.bot.conftest import REDIS_URL, WEBHOOK_SECRET
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import free_port


def _env(tmp: Path, mongo_uri: str, llm: OpenAIEmulator, personas: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    env.update(
        {
            "COMPANION_ENVIRONMENT": "test",
            "COMPANION_MONGO__URI": mongo_uri,
            "COMPANION_MONGO__DATABASE": f"cli_{uuid.uuid4().hex[:8]}",
            "COMPANION_REDIS__URL": REDIS_URL,
            "COMPANION_REDIS__KEY_PREFIX": f"test:cli:{uuid.uuid4().hex[:8]}",
            "COMPANION_LLM__BACKEND": "openai",
            "COMPANION_LLM__BASE_URL": llm.base_url,
            "COMPANION_LLM__MODEL": llm.base_model,
            "COMPANION_TELEGRAM__TOKEN": DEFAULT_TOKEN,
            "COMPANION_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
            "COMPANION_MEMORY__ENABLED": "false",
            "COMPANION_PERSONAS__DIRECTORY": str(personas),
            "COMPANION_PERSONAS__HOT_RELOAD": "false",
            "COMPANION_PRIVACY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
            "COMPANION_DATA_DIR": str(tmp / "var"),
        }
    )
    return env


async def _run_until_answered(
    args: list[str], env: dict[str, str], tg: TelegramBotAPIEmulator, user_id: int
) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from companion.cli import main; main()",
        "bot",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        user = TelegramUser(tg, user_id)
        webhook = "--webhook" in args
        # The bot is up once it set its command menu (and its webhook). Start-up imports the
        # model stack, which takes far longer on a loaded 2-core machine than on a quiet one.
        up = False
        for _ in range(1200):
            if any(c.method == "setMyCommands" for c in tg.calls) and (
                not webhook or tg.webhook is not None
            ):
                up = True
                break
            if process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert up, f"the bot did not come up (exit code {process.returncode})"
        await user.command("start")
        call = await user.expect("sendMessage", timeout=30)
        assert "Choose your language" in (call.text or "")
        process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        output = (await process.stdout.read()).decode() if process.stdout else ""
        assert "Traceback" not in output, output


@pytest.fixture
async def llm() -> OpenAIEmulator:  # type: ignore[misc]
    async with OpenAIEmulator() as emulator:
        yield emulator


async def test_webhook_process(
    tmp_path: Path, mongo_uri: str, llm: OpenAIEmulator, personas_dir: Path
) -> None:
    async with TelegramBotAPIEmulator() as tg:
        env = _env(tmp_path, mongo_uri, llm, personas_dir)
        port = free_port()
        env.update(
            {
                "COMPANION_TELEGRAM__WEBHOOK_URL": f"http://127.0.0.1:{port}",
                "COMPANION_TELEGRAM__WEBHOOK_HOST": "127.0.0.1",
                "COMPANION_TELEGRAM__WEBHOOK_PORT": str(port),
            }
        )
        code = await _run_until_answered(["--webhook", "--api-server", tg.base_url], env, tg, 6002)
        assert code == 0
        assert tg.webhook is not None and tg.webhook["secret_token"] == WEBHOOK_SECRET
