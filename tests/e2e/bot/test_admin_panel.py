"""The owner's console (/admin) through the Bot API emulator: who may open it, its menu, the
Users section (lookup, grant, refund) and the developer view (health, persona reload)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from companion.config import Settings
from tests.e2e.bot.conftest import BotHarness, make_settings, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator

ADMIN = 4100


@pytest.fixture
def admin_settings(
    mongo_uri: str,
    redis_prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    personas_dir: Path,
) -> Settings:
    return make_settings(
        mongo_uri=mongo_uri,
        prefix=redis_prefix,
        llm=llm,
        tg=tg,
        personas_dir=personas_dir,
        admin_ids=[ADMIN],
    )


@pytest.fixture
async def console(
    admin_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    async with running_bot(admin_settings, tg, llm, mongo_uri) as running:
        yield running


async def test_a_non_admin_gets_the_unknown_command_answer(console: BotHarness) -> None:
    stranger = console.user(4101)
    await console.onboard(stranger)
    await stranger.command("admin")
    await stranger.expect("sendMessage", contains="I don't know that command")
    await stranger.command("admin", "user 4101")
    await stranger.expect("sendMessage", contains="I don't know that command")
    await stranger.idle()
    assert not [c for c in stranger.calls() if "console" in (c.text or "").lower()]


async def test_the_admin_opens_the_menu_with_every_section(console: BotHarness) -> None:
    admin = console.user(ADMIN)
    await admin.command("admin")
    call = await admin.expect("sendMessage", contains="Owner's console")
    markup = call.params["reply_markup"]
    data = {b["callback_data"] for row in markup["inline_keyboard"] for b in row}
    assert data == {f"adm:{s}" for s in ("stats", "broadcast", "users", "dev", "mood", "menu")}
