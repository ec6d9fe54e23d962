"""/forget through the real bot leaves nothing about the person: not in any collection, not in
Redis, not in the logs, not in any file of the embedded database's directory.

The bot runs as in production (`companion.app.build_app`, the one composition root) over its own
embedded SecantusDB, so the server's files are this test's to read. The person has a name and
a username, told the bot something, and pays by a saved card (YooKassa emulator) whose token
renews the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bson
import pytest
from aiohttp import web
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from companion.app import Overrides, build_app
from companion.billing.webhook import setup_billing_routes
from companion.bot.dispatcher import build_dispatcher
from companion.bot.runner import build_fsm_storage
from companion.config import Settings
from companion.storage import collections as c
from tests.e2e.bot.conftest import BotHarness, make_settings
from tests.e2e.bot.test_mood import KeywordReader
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import free_port
from tests.emulators.yookassa import YooKassaEmulator

USER_ID = 739_118_402_557
NAME = "Zenobiaqx"
USERNAME = "zenobia_qx_erase"
SECRET_TEXT = "my neighbour's parrot is called Quetzalcoatl-Bingo"
CARD_TOKEN = "pm-card-token-5e1f0c9a7b"
OTHER_ID = 739_118_402_999


def needles(*, sealed_only: bool = False) -> dict[str, bytes]:
    """The person's data as bytes; `sealed_only`: only what is never stored in the clear."""
    found = {
        "name": NAME.encode(),
        "username": USERNAME.encode(),
        "message text": b"Quetzalcoatl-Bingo",
        "card token": CARD_TOKEN.encode(),
    }
    if not sealed_only:
        found["user id"] = str(USER_ID).encode()
    return found


def found_in(data: bytes, *, sealed_only: bool = False) -> list[str]:
    return [what for what, needle in needles(sealed_only=sealed_only).items() if needle in data]


async def wait_for(check: Any, *, want_empty: bool, timeout_s: float = 20.0) -> Any:
    """Poll `check()` until its result is empty (or non-empty); the last result either way."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if (not result) == want_empty or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


@pytest.fixture
async def yookassa() -> AsyncIterator[YooKassaEmulator]:
    async with YooKassaEmulator() as emulator:
        yield emulator


@pytest.fixture
def embedded_settings(
    tmp_path: Path,
    redis_prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    personas_dir: Path,
    yookassa: YooKassaEmulator,
) -> Settings:
    settings = make_settings(
        mongo_uri="mongodb://unused", prefix=redis_prefix, llm=llm, tg=tg, personas_dir=personas_dir
    )
    # No URI: the composition root starts its own embedded server in this directory.
    settings.mongo = settings.mongo.model_copy(
        update={"uri": None, "embedded_data_dir": tmp_path / "db", "database": "companion"}
    )
    settings.billing = settings.billing.model_copy(
        update={
            "yookassa_shop_id": yookassa.shop_id,
            "yookassa_secret_key": SecretStr(yookassa.secret_key),
            "yookassa_api_url": yookassa.base_url,
            "yookassa_allowed_ips": ["127.0.0.2/32"],
            "autopayments": True,
        }
    )
    return settings


@contextlib.asynccontextmanager
async def production_bot(
    settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    *,
    clear_redis: bool = True,
) -> AsyncIterator[tuple[BotHarness, str]]:
    # A mood reader, so the person has emotion readings to erase too.
    overrides = Overrides(emotion_reader=KeywordReader())
    async with build_app(settings, overrides, watch_personas=False) as app:
        assert app.redis is not None and app.database.embedded is not None
        assert app.telegram is not None
        bot = app.telegram
        dp = build_dispatcher(app.bot_services(), build_fsm_storage(app.redis, settings.redis))
        web_app = web.Application()
        setup_billing_routes(web_app, app.billing.crediting, app.settings.billing)
        runner = web.AppRunner(web_app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, polling_timeout=1, close_bot_session=False)
        )
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            app.database.embedded.uri, tz_aware=True
        )
        harness = BotHarness(tg, llm, settings, app, bot, dp, app.redis, mongo)
        try:
            yield harness, f"http://127.0.0.1:{port}{settings.billing.webhook_path}"
        finally:
            with contextlib.suppress(RuntimeError):
                await dp.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(polling, 10)
            await runner.cleanup()
            await mongo.close()
            keys = [k async for k in app.redis.scan_iter(f"{settings.redis.key_prefix}:*")]
            if keys and clear_redis:
                await app.redis.delete(*keys)


async def test_forget_leaves_no_trace_in_database_redis_logs_or_files(
    embedded_settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    yookassa: YooKassaEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What production logs (INFO and up, every logger). The driver's DEBUG command log would
    # echo queries, ids included: it is never on in production.
    caplog.set_level(logging.INFO)
    data_dir = embedded_settings.mongo.embedded_data_dir
    async with production_bot(embedded_settings, tg, llm) as (harness, webhook_url):
        other = await harness.chatted_user(OTHER_ID)  # someone who stays
        user = harness.user(USER_ID, first_name=NAME)
        user.user["username"] = USERNAME
        await harness.onboard(user)
        await harness.choose(user, "mark")
        llm.reply = "What a name for a parrot."
        await user.say(SECRET_TEXT)
        await user.expect("sendMessage", contains="What a name for a parrot.")
        await harness.container.mood.tracker.idle()
        assert await harness.db[c.MOOD_READINGS].count_documents({"user_id": USER_ID}) == 1

        # PRO by card, the card saved for renewals.
        await user.command("pro")
        await user.expect("sendMessage", contains="Companion PRO")
        await user.press(text="PRO for a month")
        await user.expect("sendMessage", contains="public offer")
        await user.press(text="I accept the offer")
        await user.expect("sendMessage", contains="YooKassa")
        [pay_url] = [u for u in _url_buttons(user) if "/checkout/" in u]
        payment = yookassa.pay(pay_url.rsplit("/", 1)[1], method_id=CARD_TOKEN)
        status = await yookassa.notify(
            webhook_url, "payment.succeeded", payment, source="127.0.0.2"
        )
        assert status == 200
        await user.expect("sendMessage", contains="PRO is on")
        db = harness.db
        subscription = await db[c.SUBSCRIPTIONS].find_one({"_id": USER_ID})
        assert subscription is not None and subscription["auto_renew"]

        # The worst case for the files: everything written so far checkpointed into the data
        # files before the erasure (the server does this every minute anyway).
        await harness.mongo.admin.command("fsync")

        caplog.clear()
        await user.command("forget")
        await user.expect("sendMessage", contains="erase")
        await user.press(text="Yes, erase everything")
        await user.expect("editMessageText", contains="all your data has been erased")
        erasure_logs = list(caplog.records)

        # Every place is checked before anything is asserted, so a failure lists them all.
        problems: list[str] = []
        # Database: no document anywhere holds any of it (payments are kept, pseudonymised).
        for name in await db.list_collection_names():
            async for document in db[name].find({}):
                hits = found_in(bson.encode(document))
                if hits:
                    problems.append(f"collection {name}: {hits}")
        assert await db[c.PAYMENTS].count_documents({"user_ref": {"$exists": True}}) == 1
        # The id is stored as a number, which the byte needles above do not see.
        for name, field in c.USER_DATA_FIELDS.items():
            if await db[name].count_documents({field: USER_ID}):
                problems.append(f"collection {name}: documents of the person")

        # Redis: no key under the service's prefix names the person or holds their data.
        redis = harness.redis
        async for key in redis.scan_iter(f"{embedded_settings.redis.key_prefix}:*"):
            hits = found_in(key) + found_in(await redis.dump(key) or b"")
            if hits:
                problems.append(f"redis {key!r}: {hits}")

        # Logs of the erasure: not one line names the person.
        for record in erasure_logs:
            text = record.getMessage() + (record.exc_text or "")
            if found_in(text.encode()):
                problems.append(f"log {record.name}: {text[:200]}")

        # Files: the journal was rolled and there is no oplog; data files hold only ciphertext.
        # WiredTiger removes the rolled journal files a moment after the checkpoint.
        left = await wait_for(lambda: _files_holding_it(data_dir.parent), want_empty=True)
        problems += [f"file {hit}" for hit in left]
        assert problems == [], "\n".join(problems)

        # The other person is untouched and still answered.
        assert await db[c.MESSAGES].count_documents({"user_id": OTHER_ID}) >= 3
        llm.reply = "Still here."
        await other.say("Are you there?")
        await other.expect("sendMessage", contains="Still here.")


async def _files_holding_it(directory: Path) -> list[str]:
    """Files under `directory` holding the person's data. The journal, an oplog and the
    server's log: nothing at all. The data files (`*.wt`): nothing of what is stored sealed;
    their free blocks may keep images of deleted documents, with the numeric id, until
    WiredTiger reuses the space (docs/privacy.md)."""
    hits = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            journal = path.name.startswith("WiredTigerLog") or "oplog" in path.name
            data_file = path.suffix == ".wt" and not journal
            found = found_in(path.read_bytes(), sealed_only=data_file)
            if found:
                hits.append(f"{path.relative_to(directory)}: {found}")
    return hits


def _url_buttons(user: TelegramUser) -> list[str]:
    urls: list[str] = []
    for message in reversed(user.history()):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            urls.extend(button["url"] for button in row if "url" in button)
    return urls
