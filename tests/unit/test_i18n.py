"""Translator: every .ftl of a language folder is loaded; fallbacks end at the key itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.i18n import Translator


@pytest.fixture
def locales(tmp_path: Path) -> Path:
    (tmp_path / "ru").mkdir()
    (tmp_path / "en").mkdir()
    (tmp_path / "ru" / "bot.ftl").write_text("hello = Привет, { $name }!\nonly-ru = только\n")
    (tmp_path / "ru" / "voice.ftl").write_text("voice-too-long = Слишком длинно\n")
    (tmp_path / "en" / "bot.ftl").write_text("hello = Hello, { $name }!\nonly-en = only\n")
    (tmp_path / "en" / "broken.ftl").write_text("ok-key = fine\nbad = = {\n")
    return tmp_path


def test_loads_every_file_of_a_language(locales: Path) -> None:
    t = Translator(locales)
    assert t.languages == ["en", "ru"]
    assert t.get("ru", "hello", name="Аня") == "Привет, Аня!"
    assert t.get("ru", "voice-too-long") == "Слишком длинно"
    assert t.get("en", "ok-key") == "fine"  # a broken entry does not hide the rest of its file


def test_fallback_order_then_key(locales: Path) -> None:
    t = Translator(locales)
    assert t.get("en", "only-ru") == "только"
    assert t.get("ru", "only-en") == "only"
    assert t.get("de", "hello", name="X") == "Привет, X!"
    assert t.get("en", "bad") == "bad"
    assert t.get("en", "no-such-key") == "no-such-key"


def test_no_isolation_marks_around_arguments(locales: Path) -> None:
    text = Translator(locales).get("en", "hello", name="Bob")
    assert "\u2068" not in text and "\u2069" not in text


def test_shipped_locales_have_the_same_bot_keys() -> None:
    root = Path(__file__).resolve().parents[2] / "companion" / "locales"
    keys = {}
    for lang in ("ru", "en"):
        text = (root / lang / "bot.ftl").read_text(encoding="utf-8")
        keys[lang] = {
            line.split("=", 1)[0].strip()
            for line in text.splitlines()
            if line and not line.startswith((" ", "#")) and "=" in line
        }
    assert keys["ru"] == keys["en"]
    t = Translator(root)
    for key in keys["en"]:
        assert t.has("ru", key) and t.has("en", key), key


def test_every_shipped_text_is_valid_telegram_html() -> None:
    """The bot sends with parse_mode=HTML: a stray `<` in any locale file would break a send."""
    from fluent.syntax import FluentParser
    from fluent.syntax import ast as fluent_ast

    from tests.emulators.telegram.html import EntityParseError, parse_html

    root = Path(__file__).resolve().parents[2] / "companion" / "locales"
    translator = Translator(root)
    problems = []
    for path in sorted(root.glob("*/*.ftl")):
        resource = FluentParser().parse(path.read_text(encoding="utf-8"))
        for entry in resource.body:
            if not isinstance(entry, fluent_ast.Message) or entry.value is None:
                continue
            # Persona-voiced texts in both forms of address (they refuse to render without one).
            voiced = entry.id.name in translator.addressed_keys
            for address in ("ty", "vy") if voiced else (None,):
                args = {"address": address} if address else {}
                text = translator.get(path.parent.name, entry.id.name, **args)
                try:
                    parse_html(text)
                except EntityParseError as exc:
                    problems.append(f"{path.parent.name}/{path.name} {entry.id.name}: {exc}")
    assert not problems, problems
