"""Russian texts decline persona names and keep one form of address (Bot API emulator)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bot.conftest import BotHarness, _persona


@pytest.fixture
def personas_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "personas"
    directory.mkdir()
    cards: list[dict[str, Any]] = [
        # No forms in the card: the morphology dictionary declines "Лев" (со Львом).
        {**_persona("lev", "Лев", "support")},
        # Forms given by the author win.
        {**_persona("vera", "Вера", "practice"), "name_forms": {"ru": {"ins": "Верой"}}},
        # A celebrity addressed with "вы" (the module's default).
        {**_persona("holmes", "Шерлок Холмс", "celebrity")},
    ]
    for card in cards:
        (directory / f"{card['id']}.yaml").write_text(json.dumps(card, ensure_ascii=False))
    return directory


def _said(user: Any, phrase: str) -> bool:
    """Whether any message so far says `phrase` (tags stripped)."""
    texts = [re.sub(r"<[^>]+>", "", c.text or "") for c in user.calls("sendMessage")]
    return any(phrase in text for text in texts)


async def test_names_are_declined_and_address_follows_the_persona(harness: BotHarness) -> None:
    user = harness.user(6001, language_code="ru")
    await harness.onboard(user, language="Русский")
    buttons = [text for text, _ in user.buttons()]
    assert "💬 Поговорить со Львом" in buttons, buttons

    await harness.choose(user, "lev")
    assert _said(user, "Теперь ты говоришь со Львом")
    await user.command("reset")
    await user.expect("sendMessage", contains="Начинаем заново")
    assert _said(user, "Начинаем заново со Львом")

    await user.command("persona")
    await user.expect("sendPhoto")
    await harness.choose(user, "holmes")
    assert _said(user, "Теперь вы говорите с Шерлоком Холмсом")

    await user.command("persona")
    await user.expect("sendPhoto")
    await harness.choose(user, "vera")
    assert _said(user, "ты говоришь с Верой")
    await user.command("persona")
    await user.expect("sendPhoto")
    await harness.choose(user, "lev")
    assert _said(user, "Снова со Львом")
    assert not _said(user, "с Лев ")


async def test_crisis_reply_speaks_in_the_personas_form_of_address(harness: BotHarness) -> None:
    user = harness.user(6002, language_code="ru")
    await harness.onboard(user, language="Русский")
    await harness.choose(user, "lev")  # support: "ты"
    await user.say("Я не хочу жить")
    await user.expect("sendMessage", contains="Ты не один и не одна")
    assert not _said(user, "Вы не одни")

    await user.command("persona")
    await user.expect("sendPhoto")
    await harness.choose(user, "holmes")  # celebrity: "вы"
    await user.say("Я не хочу жить")
    await user.expect("sendMessage", contains="Вы не одни")
    await user.idle()
    # The bot's own /help keeps "вы"; its disclaimer follows the persona in the chat ("вы").
    await user.command("help")
    await user.expect("sendMessage", contains="обратитесь к профессионалу")
