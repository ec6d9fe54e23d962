"""`companion bot --webhook` as an operator runs it (a child process), with dependencies a test
may kill: a private Redis, a private or the bot's own embedded database, an LLM server process.

Used by the fault-injection tests (tests/e2e/faults) and `benchmarks/faults.py`::

    async with FaultWorld.open(tmp_path, database="external") as world:
        user = await world.chatting_user(7001)
        world.redis.kill()
        ...
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp

from companion.storage.embedded import free_port
from tests.e2e.bot.conftest import WEBHOOK_SECRET, write_personas
from tests.e2e.faults.processes import PrivateMongo, PrivateRedis, kill_pid
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator, TelegramUser

ROOT = Path(__file__).resolve().parents[3]

# Telegram repeats a webhook delivery that failed; these pauses cover about a minute.
REDELIVERY = (1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0, 5.0, 5.0, 5.0)

ERROR_TEXT = "something went wrong"  # error-generic (en)


class LLMProcess:
    """The OpenAI-compatible emulator in a process of its own, so it can be killed mid-stream."""

    def __init__(self, reply: str, token_delay_s: float) -> None:
        self.port = free_port()
        self.reply = reply
        self.token_delay_s = token_delay_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self, reply: str | None = None) -> None:
        self.reply = reply or self.reply
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.emulators.openai_server",
                "--port",
                str(self.port),
                "--reply",
                self.reply,
                "--token-delay",
                str(self.token_delay_s),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/health") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError("the LLM emulator process did not start")

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)


@dataclass
class FaultWorld:
    tmp: Path
    tg: TelegramBotAPIEmulator
    redis: PrivateRedis
    mongo: PrivateMongo | None  # None: the bot runs its own embedded database
    llm_url: str
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    port: int = 0
    log_path: Path | None = None
    # Settings a test adds (COMPANION_... names), over the defaults above.
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        tmp: Path,
        *,
        database: Literal["embedded", "external"],
        llm_url: str | None = None,
        llm_reply: str = "I am here for you.",
        extra_env: dict[str, str] | None = None,
    ) -> AsyncIterator[FaultWorld]:
        redis = PrivateRedis()
        redis.start()
        mongo: PrivateMongo | None = None
        llm: OpenAIEmulator | None = None
        try:
            if database == "external":
                mongo = PrivateMongo(tmp / "external-db")
                mongo.start()
            if llm_url is None:
                llm = OpenAIEmulator(reply=llm_reply)
                await llm.start()
                llm_url = llm.base_url
            async with TelegramBotAPIEmulator() as tg:
                tg.redeliver_after_s = REDELIVERY
                world = cls(
                    tmp=tmp,
                    tg=tg,
                    redis=redis,
                    mongo=mongo,
                    llm_url=llm_url,
                    extra_env=dict(extra_env or {}),
                )
                try:
                    await world.start_bot()
                    yield world
                finally:
                    await world.stop_bot()
        finally:
            if llm is not None:
                await llm.stop()
            if mongo is not None:
                mongo.stop()
            redis.stop()

    # -- the bot process -----------------------------------------------------------------

    async def start_bot(self) -> None:
        personas = self.tmp / "personas"
        write_personas(personas)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
        env.update(
            {
                "COMPANION_ENVIRONMENT": "test",
                "COMPANION_LOG_LEVEL": "INFO",
                "COMPANION_REDIS__URL": self.redis.url,
                "COMPANION_REDIS__KEY_PREFIX": f"faults:{uuid.uuid4().hex[:8]}",
                "COMPANION_MONGO__DATABASE": f"faults_{uuid.uuid4().hex[:8]}",
                "COMPANION_LLM__BACKEND": "openai",
                "COMPANION_LLM__BASE_URL": self.llm_url,
                "COMPANION_LLM__MODEL": "companion-base",
                "COMPANION_LLM__REQUEST_TIMEOUT_S": "10",
                "COMPANION_TELEGRAM__TOKEN": DEFAULT_TOKEN,
                "COMPANION_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
                "COMPANION_TELEGRAM__WEBHOOK_HOST": "127.0.0.1",
                "COMPANION_TELEGRAM__WEBHOOK_PORT": str(self.port),
                "COMPANION_TELEGRAM__WEBHOOK_URL": f"http://127.0.0.1:{self.port}",
                "COMPANION_BILLING__STARS_ENABLED": "true",
                "COMPANION_MEMORY__ENABLED": "false",
                "COMPANION_PERSONAS__DIRECTORY": str(personas),
                "COMPANION_PERSONAS__HOT_RELOAD": "false",
                "COMPANION_SPEECH__CACHE_DIR": str(self.tmp / "speech"),
                "COMPANION_PRIVACY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
            }
        )
        if self.mongo is not None:
            env["COMPANION_MONGO__URI"] = self.mongo.uri
        else:
            env["COMPANION_MONGO__EMBEDDED_DATA_DIR"] = str(self.embedded_data_dir)
        env.update(self.extra_env)
        self.env = env
        await self._spawn_bot()

    async def restart_bot(self) -> None:
        """Start the bot again with the same settings (database, Redis prefix, keys), as a
        supervisor restarts a worker that died."""
        await self._spawn_bot()

    async def kill_bot(self) -> None:
        """SIGKILL: no shutdown hook runs (an OOM kill, a lost node)."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def _spawn_bot(self) -> None:
        env = self.env
        self.log_path = self.tmp / "bot.log"
        with self.log_path.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from companion.cli import main; main()",
                "bot",
                "--webhook",
                "--api-server",
                self.tg.base_url,
                env=env,
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        await self.wait_until(lambda: self.http_status("/healthz"), 200, timeout=180)

    async def stop_bot(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 40)
        except TimeoutError:
            process.kill()
            await process.wait()

    @property
    def embedded_data_dir(self) -> Path:
        return self.tmp / "embedded-db"

    def embedded_pid(self) -> int:
        """The bot's embedded database server (from its pid file: ``<data_dir>.pid``)."""
        pid_file = self.embedded_data_dir.with_name(f"{self.embedded_data_dir.name}.pid")
        return int(pid_file.read_text().split()[0])

    def kill_embedded(self) -> int:
        pid = self.embedded_pid()
        kill_pid(pid)
        return pid

    def bot_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    # -- probes --------------------------------------------------------------------------

    async def http_status(self, path: str) -> int | None:
        return (await self.http_get(path))[0]

    async def http_get(self, path: str) -> tuple[int | None, Any]:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
                http.get(f"http://127.0.0.1:{self.port}{path}") as response,
            ):
                body = await response.json(content_type=None)
                return response.status, body
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None, None

    async def wait_until(self, probe: Any, expected: Any, *, timeout: float) -> float:
        """Poll `probe()` until it returns `expected`; the seconds it took."""
        started = time.monotonic()
        while True:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"the bot exited:\n{self.bot_log()[-3000:]}")
            if await probe() == expected:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(
                    f"{probe} did not become {expected!r} in {timeout} s:\n{self.bot_log()[-3000:]}"
                )
            await asyncio.sleep(0.1)

    # -- users ---------------------------------------------------------------------------

    def user(self, user_id: int) -> TelegramUser:
        return TelegramUser(self.tg, user_id, first_name="Test", language_code="en")

    async def chatting_user(self, user_id: int, persona: str = "mark") -> TelegramUser:
        """A user past onboarding, talking to `persona`."""
        user = self.user(user_id)
        await user.command("start")
        await user.expect("sendMessage", where=lambda call: "reply_markup" in call.params)
        await user.press(text="English")
        await user.expect("sendMessage", where=lambda call: "consent" in str(call.params))
        await user.press(text="✅")
        await user.expect("sendPhoto", timeout=30)
        for _ in range(10):
            buttons = {data: text for text, data in user.buttons()}
            pick = next(
                (d for d in buttons if d.startswith("lib:pick:") and d.endswith(f":{persona}")),
                None,
            )
            if pick is not None:
                await user.press(pick)
                await user.expect(
                    "sendMessage", where=lambda call: "<b>" in str(call.params.get("text", ""))
                )
                await user.idle(0.3)
                user.skip()
                return user
            await user.press(text="▶")
            await user.expect("editMessageMedia")
        raise AssertionError(f"persona {persona} not found in the library")

    async def answered(self, user: TelegramUser, contains: str, *, timeout: float) -> float:
        """Wait for a final message to `user` containing `contains`; when it arrived
        (time.monotonic())."""
        call = await user.expect("sendMessage", contains=contains, timeout=timeout)
        return call.at

    def apologies(self, user: TelegramUser) -> list[str]:
        return [c.text or "" for c in user.calls("sendMessage") if ERROR_TEXT in (c.text or "")]


@contextlib.asynccontextmanager
async def story_world(
    tmp: Path, story: str, *, token_delay_s: float, extra_env: dict[str, str] | None = None
) -> AsyncIterator[tuple[FaultWorld, LLMProcess]]:
    """A world over an external database whose model is a process of its own, streaming
    `story` slowly, so a test can break something mid-reply."""
    llm = LLMProcess(reply=story, token_delay_s=token_delay_s)
    await llm.start()
    try:
        async with FaultWorld.open(
            tmp, database="external", llm_url=llm.base_url, extra_env=extra_env
        ) as world:
            yield world, llm
    finally:
        llm.kill()
