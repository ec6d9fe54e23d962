"""The user's language bound to the translator: what handlers get as ``i18n``."""

from __future__ import annotations

from typing import Any

from companion.i18n import Translator

SUPPORTED_LANGUAGES = ("ru", "en")


def language_from_telegram(language_code: str | None, default: str) -> str:
    """Telegram's ``language_code`` ("ru", "en-US", "uk"...) to one of ours."""
    if language_code:
        code = language_code.split("-", 1)[0].lower()
        if code in SUPPORTED_LANGUAGES:
            return code
        # Russian is the closer second language for users of neighbouring locales.
        if code in ("uk", "be", "kk", "ky", "uz", "tg", "hy", "az", "ka"):
            return "ru"
        return "en"
    return default


class I18n:
    def __init__(self, translator: Translator, language: str) -> None:
        self.translator = translator
        self.language = language

    def __call__(self, key: str, **args: Any) -> str:
        return self.translator.get(self.language, key, **args)

    def for_language(self, language: str) -> I18n:
        return I18n(self.translator, language)
