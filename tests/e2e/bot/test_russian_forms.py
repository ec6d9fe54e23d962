"""Russian texts decline persona names and keep one form of address (Bot API emulator)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from companion.personas.forms import PERSONA_VOICED_KEYS, address_of, persona_text_args
from tests.e2e.bot.conftest import BotHarness, _persona
from tests.unit.personas.test_address_keys import TY_FORMS, VY_FORMS


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


def _texts(user: Any) -> list[str]:
    """Every text the user got so far: messages and photo captions, tags stripped."""
    calls = user.calls("sendMessage") + user.calls("sendPhoto") + user.calls("editMessageText")
    texts = [c.params.get("text") or c.params.get("caption") or "" for c in calls]
    return [re.sub(r"<[^>]+>", "", text) for text in texts if text]


@pytest.mark.parametrize(
    ("persona_id", "address", "crisis"),
    [("lev", "ty", "Ты не один и не одна"), ("holmes", "vy", "Вы не одни")],
)
async def test_every_text_the_user_sees_keeps_one_form_of_address(
    harness: BotHarness, persona_id: str, address: str, crisis: str
) -> None:
    """A whole session in Russian with a ты-persona and with a вы-persona: onboarding, the
    library, the persona's start, a reply, a crisis reply, /help, /reset. What the persona says
    is in its form of address, what the bot says is in "вы", and no text mixes the two."""
    translator = harness.container.translator
    persona = harness.container.personas.get(persona_id)
    assert persona is not None and address_of(persona) == address
    user = harness.user(6101 if address == "ty" else 6102, language_code="ru")
    await harness.onboard(user, language="Русский")
    await harness.choose(user, persona_id)
    harness.llm.reply = "Понимаю. Это был длинный день."  # no form of address either way
    await user.say("Сегодня был длинный день")
    await user.expect("sendMessage", contains="Понимаю.")
    await user.say("Я не хочу жить")
    await user.expect("sendMessage", contains=crisis)
    await user.command("help")
    await user.expect("sendMessage", contains="/persona")
    await user.command("reset")
    await user.expect("sendMessage", contains="Начинаем заново")
    await user.idle()

    args = persona_text_args(persona, "ru")
    voiced = {
        re.sub(r"<[^>]+>", "", translator.get("ru", key, **args)) for key in PERSONA_VOICED_KEYS
    }
    texts = _texts(user)
    seen_voiced = [text for text in texts if any(v in text for v in voiced)]
    # At least "now you talk with..." and the crisis reply (a support persona: its notice).
    assert len(seen_voiced) >= 2 + (address == "ty"), texts
    own, other = (TY_FORMS, VY_FORMS) if address == "ty" else (VY_FORMS, TY_FORMS)
    for text in seen_voiced:
        assert own.search(text) and not other.search(text), text
    for text in texts:
        if text not in seen_voiced:
            assert not TY_FORMS.search(text), f"the bot's own text says ты: {text!r}"
