"""The command menu (setMyCommands) lists exactly what /help and docs/telegram.md list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.bot.conftest import BotHarness

DOCS = Path(__file__).resolve().parents[3] / "docs" / "telegram.md"


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_menu_matches_help_and_docs(harness: BotHarness, language: str) -> None:
    user = harness.user(4100 + len(language), language_code=language)
    await harness.onboard(user)
    await user.command("help")
    help_message = await user.expect("sendMessage", contains="/persona")
    listed_in_help = set(re.findall(r"(?<![<\w])/([a-z]+)", str(help_message.params["text"])))
    menu = {c["command"] for c in harness.tg.commands[("default", language)]}
    assert menu, "the bot set no command menu"
    # Every command the menu offers is explained in /help, and every one /help names is in it.
    assert listed_in_help == menu - {"start", "help"}
    documented = set(re.findall(r"/([a-z]+)", DOCS.read_text(encoding="utf-8")))
    assert menu <= documented
    assert "echo" in menu  # docs/telegram.md: /echo (voice)
