"""The owner imports a Character Card by sending it to the bot (JSON or PNG, as a file), with
the CLI's validation; nobody else can, and a bad card changes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from companion.config import Settings
from companion.personas.card_files import card_to_png
from tests.e2e.bot.conftest import BotHarness, running_bot, with_telegram
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator

ADMIN = 4300


def card(name: str = "Aria", **data: Any) -> dict[str, Any]:
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": name,
            "description": "{{char}} keeps the lighthouse on a stormy island.",
            "personality": "calm, wry, protective",
            "scenario": "{{user}} washes up on the shore during a storm.",
            "first_mes": "*holds up a lantern* You're soaked. Come in, {{user}}.",
            "mes_example": "<START>\n{{user}}: Hello!\n{{char}}: Only me and the gulls.\n",
            **data,
        },
    }


@pytest.fixture
async def owner(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    settings = with_telegram(bot_settings, admin_ids=[ADMIN])
    async with running_bot(settings, tg, llm, mongo_uri) as running:
        yield running


async def test_the_owner_imports_a_json_card_and_it_is_in_the_library(
    owner: BotHarness, personas_dir: Path
) -> None:
    admin = owner.user(ADMIN)
    before = sorted(p.name for p in personas_dir.iterdir())
    await admin.send_document(
        json.dumps(card()).encode(), file_name="aria.json", mime_type="application/json"
    )
    await admin.expect("sendMessage", contains="Imported")
    assert (personas_dir / "aria.yaml").is_file()
    assert sorted(p.name for p in personas_dir.iterdir()) == sorted([*before, "aria.yaml"])
    persona = owner.container.personas.get("aria")
    assert persona is not None and persona.module.value == "support"

    # The same card again: refused, the file kept as it was.
    written = (personas_dir / "aria.yaml").read_text(encoding="utf-8")
    await admin.send_document(json.dumps(card(personality="changed")).encode(), file_name="a.json")
    await admin.expect("sendMessage", contains="already exists")
    assert (personas_dir / "aria.yaml").read_text(encoding="utf-8") == written
    # ...unless the caption says so; another id adds a second persona.
    await admin.send_file_message(
        "document",
        json.dumps(card(personality="changed")).encode(),
        file_name="a.json",
        mime_type="application/json",
        caption="overwrite",
    )
    await admin.expect("sendMessage", contains="Imported")
    assert "changed" in (personas_dir / "aria.yaml").read_text(encoding="utf-8")


async def test_a_png_card_brings_its_portrait(owner: BotHarness, personas_dir: Path) -> None:
    admin = owner.user(ADMIN)
    await admin.send_file_message(
        "document",
        card_to_png(card("Nova Ray")),
        file_name="nova.png",
        mime_type="image/png",
        caption="id=nova module=practice",
    )
    await admin.expect("sendMessage", contains="Imported")
    persona = owner.container.personas.get("nova")
    assert persona is not None and persona.module.value == "practice"
    assert persona.gallery[0].file == "img/nova-card.png"
    assert (personas_dir / "img" / "nova-card.png").is_file()


async def test_bad_cards_change_nothing(owner: BotHarness, personas_dir: Path) -> None:
    admin = owner.user(ADMIN)
    before = sorted(p.name for p in personas_dir.rglob("*"))
    await admin.send_document(b"{not json", file_name="broken.json", mime_type="application/json")
    await admin.expect("sendMessage", contains="not a usable character card")
    await admin.send_document(
        b"\x89PNG\r\n\x1a\nnot really", file_name="x.png", mime_type="image/png"
    )
    await admin.expect("sendMessage", contains="not a usable character card")
    await admin.send_file_message(
        "document",
        json.dumps(card()).encode(),
        file_name="aria.json",
        mime_type="application/json",
        caption="module=villain",
    )
    await admin.expect("sendMessage", contains="did not understand")
    assert sorted(p.name for p in personas_dir.rglob("*")) == before
    assert owner.container.personas.get("aria") is None


async def test_nobody_else_can_import(owner: BotHarness, personas_dir: Path) -> None:
    stranger = owner.user(4301)
    await owner.onboard(stranger)
    before = sorted(p.name for p in personas_dir.rglob("*"))
    await stranger.send_document(json.dumps(card()).encode(), file_name="aria.json")
    await stranger.expect("sendMessage", contains="can't read files")
    await stranger.idle()
    assert not [c for c in stranger.calls() if "Imported" in (c.text or "")]
    assert sorted(p.name for p in personas_dir.rglob("*")) == before
