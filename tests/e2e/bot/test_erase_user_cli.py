"""`companion db erase-user` does everything /forget does: it stops a Stars subscription through
the Bot API (an aiogram Bot that never polls), erases the database and memory, clears every
Redis key of the person, and rolls the embedded database's journal.

The person uses the real bot first (over its own embedded SecantusDB), subscribes with Telegram
Stars, and is then erased by the operator's command while the bot is stopped (the embedded
database serves one process at a time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient
from redis.asyncio import Redis
from typer.testing import CliRunner

from companion.cli.db import app as db_app
from companion.config import Settings
from companion.storage import collections as c
from tests.e2e.bot.conftest import REDIS_URL
from tests.e2e.bot.test_erasure_leaves_nothing import (
    embedded_settings,  # noqa: F401 - a fixture
    production_bot,
    wait_for,
    yookassa,  # noqa: F401 - a fixture
)
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator

USER_ID = 739_118_777_301
NAME = "Quillanova"
USERNAME = "quillanova_cli"
SECRET_TEXT = "I keep my spare key under the Marzipan-Gnome"
CHARGE_ID = "stars-charge-cli-8d2c41"


def found_in(data: bytes, *, sealed_only: bool = False) -> list[str]:
    """Which of the person's data `data` holds. `sealed_only`: only what is never stored in
    the clear (name, username, text), for the data files, whose free blocks may keep old
    page images with the numeric id and the payment's provider reference (docs/privacy.md)."""
    needles = {
        "name": NAME.encode(),
        "username": USERNAME.encode(),
        "message text": b"Marzipan-Gnome",
    }
    if not sealed_only:
        needles["user id"] = str(USER_ID).encode()
        needles["Stars charge id"] = CHARGE_ID.encode()
    return [what for what, needle in needles.items() if needle in data]


@pytest.fixture
async def stars_settings(embedded_settings: Settings) -> AsyncIterator[Settings]:  # noqa: F811
    settings = embedded_settings.model_copy(deep=True)
    settings.billing = settings.billing.model_copy(
        update={"yookassa_shop_id": None, "stars_enabled": True}
    )
    yield settings
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{settings.redis.key_prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def _cli_env(
    settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator
) -> dict[str, str | None]:
    """The same configuration as the bot's, the way an operator's shell gives it."""
    assert settings.privacy.encryption_key is not None
    return {
        "COMPANION_ENVIRONMENT": "test",
        "COMPANION_MONGO__URI": None,  # unset: the embedded server, as the bot had
        "COMPANION_MONGO__EMBEDDED_DATA_DIR": str(settings.mongo.embedded_data_dir),
        "COMPANION_MONGO__DATABASE": settings.mongo.database,
        "COMPANION_REDIS__URL": REDIS_URL,
        "COMPANION_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "COMPANION_PRIVACY__ENCRYPTION_KEY": settings.privacy.encryption_key.get_secret_value(),
        "COMPANION_TELEGRAM__TOKEN": DEFAULT_TOKEN,
        "COMPANION_TELEGRAM__API_SERVER": tg.base_url,
        "COMPANION_LLM__BACKEND": "openai",
        "COMPANION_LLM__BASE_URL": llm.base_url,
        "COMPANION_LLM__MODEL": llm.base_model,
        "COMPANION_MEMORY__ENABLED": "true",
        "COMPANION_BILLING__STARS_ENABLED": "true",
        "COMPANION_PERSONAS__DIRECTORY": str(settings.personas.directory),
    }


async def test_erase_user_cli_stops_stars_and_leaves_no_trace(
    stars_settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = stars_settings
    data_dir = settings.mongo.embedded_data_dir
    async with production_bot(settings, tg, llm, clear_redis=False) as (harness, _):
        user = harness.user(USER_ID, first_name=NAME)
        user.user["username"] = USERNAME
        await harness.onboard(user)
        await harness.choose(user, "mark")
        llm.reply = "Noted."
        await user.say(SECRET_TEXT)
        await user.expect("sendMessage", contains="Noted.")
        await user.command("pro")
        await user.expect("sendMessage", contains="Companion PRO")
        await user.press(text="PRO for a month")
        await user.expect("sendMessage", contains="public offer")
        await user.press(text="I accept the offer")
        await user.expect("sendMessage", contains="Telegram Stars")
        invoice = [call for call in tg.calls if call.method == "createInvoiceLink"][-1]
        await user.send_message(user._message(successful_payment=_stars_paid(invoice.params)))
        await user.expect("sendMessage", contains="PRO is on")
        await harness.mongo.admin.command("fsync")  # everything in the data files first
    # The bot is stopped; what it cached about the person is still in Redis.
    redis = Redis.from_url(REDIS_URL)
    prefix = settings.redis.key_prefix
    try:
        cached = [key async for key in redis.scan_iter(f"{prefix}:*") if found_in(key)]
        assert cached, "the bot left nothing in Redis to clear: the test proves nothing"

        caplog.clear()
        caplog.set_level(logging.INFO)
        result = await asyncio.to_thread(
            CliRunner().invoke,
            db_app,
            ["erase-user", "--user", str(USER_ID), "--yes"],
            env=_cli_env(settings, tg, llm),
        )
        assert result.exit_code == 0, result.output
        assert f"erased user {USER_ID}" in result.output and "messages" in result.output

        # Telegram was told to stop charging, with the charge id it knows.
        [cancel] = [call for call in tg.calls if call.method == "editUserStarSubscription"]
        assert cancel.ok and cancel.params["is_canceled"] is True
        assert cancel.params["telegram_payment_charge_id"] == CHARGE_ID

        problems: list[str] = []
        async for key in redis.scan_iter(f"{prefix}:*"):
            hits = found_in(key) + found_in(await redis.dump(key) or b"")
            if hits:
                problems.append(f"redis {key!r}: {hits}")
        for record in caplog.records:
            if record.name.startswith("companion") and found_in(record.getMessage().encode()):
                problems.append(f"log {record.name}: {record.getMessage()[:200]}")

        # The database, read by a server of our own over the same directory.
        from companion.storage.embedded import EmbeddedMongoServer

        server = EmbeddedMongoServer(data_dir)
        uri = await server.astart()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        try:
            db = mongo[settings.mongo.database]
            for name in await db.list_collection_names():
                async for document in db[name].find({}):
                    if name == c.PAYMENTS:
                        # Kept for accounting: the charge id is Telegram's reference of the
                        # payment (a refund needs it), the payer only a pseudonym.
                        assert document["payment_id"] == CHARGE_ID and "user_id" not in document
                        document = {k: v for k, v in document.items() if k != "payment_id"}
                    hits = found_in(bson.encode(document))
                    if hits:
                        problems.append(f"collection {name}: {hits}")
            assert await db[c.PAYMENTS].count_documents({"user_ref": {"$exists": True}}) == 1
            assert await db[c.USERS].count_documents({}) == 0
        finally:
            await mongo.close()
            await server.astop()
        left = await wait_for(lambda: _files(data_dir.parent), want_empty=True)
        problems += [f"file {hit}" for hit in left]
        assert problems == [], "\n".join(problems)
    finally:
        await redis.aclose()


async def _files(directory: Path) -> list[str]:
    """Files holding the person's data: the journal, an oplog or the server's log must hold
    nothing at all; the data files nothing that is stored sealed."""
    hits = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            journal = path.name.startswith("WiredTigerLog") or "oplog" in path.name
            data_file = path.suffix == ".wt" and not journal
            found = found_in(path.read_bytes(), sealed_only=data_file)
            if found:
                hits.append(f"{path.relative_to(directory)}: {found}")
    return hits


def _stars_paid(invoice: dict[str, Any]) -> dict[str, Any]:
    """The first payment of the monthly Stars subscription, as Telegram reports it."""
    return {
        "currency": "XTR",
        "total_amount": invoice["prices"][0]["amount"] if "prices" in invoice else 300,
        "invoice_payload": invoice["payload"],
        "telegram_payment_charge_id": CHARGE_ID,
        "provider_payment_charge_id": "",
        "subscription_expiration_date": int(time.time()) + 30 * 86400,
        "is_recurring": True,
        "is_first_recurring": True,
    }
