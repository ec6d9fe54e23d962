"""The bot as in production, driven over HTTP: Bot API emulator ↔ aiogram ↔ the real services.

Real SecantusDB (MongoDB wire) and Redis, the OpenAI-compatible emulator as the model, personas
from YAML files with real images, the one composition root (`companion.app.build_app`).

    async def test_something(harness):
        anna = harness.user(1001, language_code="en")
        await harness.onboard(anna)                 # /start → English → accept → library
        await harness.choose(anna, "anna")          # picks the persona card, greeting sent
        harness.llm.reply = "Hello there."
        await anna.say("Hi")
        await anna.expect("sendMessage", contains="Hello there.")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiohttp import web
from PIL import Image
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from companion.app import App, Overrides, build_app
from companion.bot.dispatcher import build_dispatcher
from companion.bot.runner import build_fsm_storage
from companion.bot.webhook import create_webhook_app, register_webhook, webhook_runner
from companion.config import Environment, Settings
from companion.shutdown import bounded_step
from companion.storage import collections as c
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import free_port

REDIS_URL = os.environ.get("COMPANION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WEBHOOK_SECRET = "e2e-webhook-secret_1"


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _persona(pid: str, name: str, module: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "name": {"ru": name, "en": name},
        "module": module,
        "languages": ["ru", "en"],
        "preview": {"ru": f"{name}: превью", "en": f"{name}: preview <b>&"},
        "description": f"{name} is a test persona.",
        "personality": "Kind.",
        "speaking_style": "Short.",
        "scenario": "Chatting.",
        "greetings": {"ru": [f"Привет, я {name}!"], "en": [f"Hi, I am {name}!"]},
        **extra,
    }


def write_personas(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "anna-beach.png").write_bytes(_png((200, 120, 60)))
    (directory / "anna-cafe.png").write_bytes(_png((60, 120, 200)))
    (directory / "lily.png").write_bytes(_png((220, 80, 120)))
    personas = [
        _persona(
            "anna",
            "Anna",
            "support",
            gallery=[
                {
                    "file": "anna-beach.png",
                    "caption": {"en": "At the beach", "ru": "На пляже"},
                    "tags": ["beach", "sea", "пляж"],
                },
                {
                    "file": "anna-cafe.png",
                    "caption": {"en": "In a cafe", "ru": "В кафе"},
                    "tags": ["cafe", "coffee", "кафе"],
                },
            ],
        ),
        # Long replies (the splitting test) need more than the default 400 tokens.
        _persona("mark", "Mark", "practice", sampling={"max_tokens": 4096}),
        _persona("star", "Star", "celebrity"),
        _persona(
            "lily",
            "Lily",
            "partner",
            pro_only=True,
            adult=True,
            gallery=[{"file": "lily.png", "caption": "Lily", "tags": ["lily"], "adult": True}],
        ),
    ]
    for persona in personas:
        # JSON is YAML: the loader reads it as any other card.
        (directory / f"{persona['id']}.yaml").write_text(json.dumps(persona, ensure_ascii=False))


@dataclass
class BotHarness:
    tg: TelegramBotAPIEmulator
    llm: OpenAIEmulator
    settings: Settings
    container: App
    bot: Bot
    dp: Dispatcher
    redis: Redis
    mongo: AsyncMongoClient[dict[str, Any]]
    webhook_url: str | None = None
    webhook_runner: web.AppRunner | None = None

    @property
    def db(self) -> Any:
        return self.mongo[self.settings.mongo.database]

    def user(
        self, user_id: int, *, language_code: str | None = "en", first_name: str = "Test"
    ) -> TelegramUser:
        return TelegramUser(self.tg, user_id, first_name=first_name, language_code=language_code)

    async def count_user_documents(self, user_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for collection, field in c.USER_DATA_FIELDS.items():
            counts[collection] = await self.db[collection].count_documents({field: user_id})
        return counts

    async def onboard(self, user: TelegramUser, language: str = "English") -> None:
        await user.command("start")
        await user.expect("sendMessage", where=lambda call: "reply_markup" in call.params)
        await user.press(text=language)
        await user.expect("sendMessage", where=lambda call: "consent" in str(call.params))
        await user.press(text="✅")
        await user.expect("sendPhoto")

    async def chatted_user(self, user_id: int) -> TelegramUser:
        """A user past onboarding who told Mark one fact and got the reply."""
        user = self.user(user_id)
        await self.onboard(user)
        await self.choose(user, "mark")
        self.llm.reply = "Glad to hear it."
        await user.say("I work as a nurse in Kazan.")
        await user.expect("sendMessage", contains="Glad to hear it.")
        user.skip()
        return user

    async def choose(self, user: TelegramUser, persona_id: str) -> None:
        """Page through the library card until `persona_id`, then pick it."""
        for _ in range(10):
            buttons = dict((data, text) for text, data in user.buttons())
            pick = next(
                (d for d in buttons if d.startswith("lib:pick:") and d.endswith(f":{persona_id}")),
                None,
            )
            if pick is not None:
                await user.press(pick)
                await user.expect(
                    "sendMessage", where=lambda call: "<b>" in str(call.params.get("text", ""))
                )
                await user.idle(0.3)  # the greeting, when there is one
                return
            await user.press(text="▶")
            await user.expect("editMessageMedia")
        raise AssertionError(f"persona {persona_id} not found in the library")


def make_settings(
    *,
    mongo_uri: str,
    prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    personas_dir: Path,
    **telegram: Any,
) -> Settings:
    return Settings(
        environment=Environment.TEST,
        mongo={"uri": mongo_uri, "database": f"bot_{uuid.uuid4().hex[:10]}"},
        redis={"url": REDIS_URL, "key_prefix": prefix},
        llm={
            "backend": "openai",
            "base_url": llm.base_url,
            "model": llm.base_model,
            "max_retries": 0,
            "request_timeout_s": 10,
            "max_reply_tokens": 4096,
        },
        telegram={
            "token": DEFAULT_TOKEN,
            "api_server": tg.base_url,
            "webhook_secret": WEBHOOK_SECRET,
            **telegram,
        },
        memory={"enabled": False},
        personas={"directory": personas_dir, "hot_reload": False},
        privacy={"encryption_key": base64.b64encode(os.urandom(32)).decode()},
    )


def with_telegram(settings: Settings, **telegram: Any) -> Settings:
    """`settings` with some `telegram` fields changed (an admin id, a throttle limit...)."""
    return settings.model_copy(update={"telegram": settings.telegram.model_copy(update=telegram)})


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    mongo_uri: str,
    *,
    webhook: bool = False,
    overrides: Overrides | None = None,
) -> AsyncIterator[BotHarness]:
    """The bot as `companion bot` builds it (`companion.app.build_app`), polling the emulator
    or serving a webhook it registers there; `overrides` replace what a test fakes."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    async with build_app(settings, overrides, watch_personas=False) as app:
        assert app.redis is not None and app.telegram is not None
        bot = app.telegram
        dp = build_dispatcher(app.bot_services(), build_fsm_storage(app.redis, settings.redis))
        harness = BotHarness(tg, llm, settings, app, bot, dp, app.redis, mongo)
        polling: asyncio.Task[None] | None = None
        try:
            if webhook:
                port = free_port()
                telegram = settings.telegram.model_copy(
                    update={"webhook_url": f"http://127.0.0.1:{port}"}
                )
                web_app = create_webhook_app(bot, dp, telegram)
                harness.webhook_runner = webhook_runner(web_app)  # as `companion bot` stops
                await harness.webhook_runner.setup()
                await web.TCPSite(harness.webhook_runner, "127.0.0.1", port).start()
                await register_webhook(bot, dp, telegram)
                harness.webhook_url = f"http://127.0.0.1:{port}{telegram.webhook_path}"
            else:
                polling = asyncio.create_task(
                    dp.start_polling(
                        bot, handle_signals=False, polling_timeout=1, close_bot_session=False
                    )
                )
                await asyncio.sleep(0)
            yield harness
        finally:
            if polling is not None:
                with contextlib.suppress(RuntimeError):
                    await dp.stop_polling()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(polling, 10)
            if harness.webhook_runner is not None:
                await harness.webhook_runner.cleanup()  # also closes the bot session
            # The shared servers' cleanup, bounded like the app's own closes: a stalled server
            # leaves a uniquely named database or prefix behind, not a hung run.
            await bounded_step(
                lambda: mongo.drop_database(settings.mongo.database), 60, what="drop test database"
            )
            await bounded_step(mongo.close, 30, what="close test Mongo client")
            await bounded_step(
                lambda: _delete_prefix(harness.redis, settings.redis.key_prefix),
                60,
                what="delete test Redis keys",
            )


async def _delete_prefix(redis: Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def tg() -> AsyncIterator[TelegramBotAPIEmulator]:
    async with TelegramBotAPIEmulator() as emulator:
        yield emulator


@pytest.fixture
async def llm() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(reply="Nice to hear from you.") as emulator:
        yield emulator


@pytest.fixture
def personas_dir(tmp_path: Path) -> Path:
    write_personas(tmp_path / "personas")
    return tmp_path / "personas"


@pytest.fixture
def bot_settings(
    mongo_uri: str,
    redis_prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    personas_dir: Path,
) -> Settings:
    return make_settings(
        mongo_uri=mongo_uri, prefix=redis_prefix, llm=llm, tg=tg, personas_dir=personas_dir
    )


@pytest.fixture
async def harness(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    async with running_bot(bot_settings, tg, llm, mongo_uri) as running:
        yield running
