"""User-facing texts from Fluent files: ``companion/locales/<language>/*.ftl``.

Every ``.ftl`` file of a language folder goes into that language's bundle, so each part of the
service keeps its own file (``bot.ftl``, ``voice.ftl``, ``billing.ftl``, ``dialog.ftl``...). Keys
use dashes (``support-disclaimer``). A key missing in the user's language falls back to the
other languages in ``fallbacks`` order and finally to the key itself, so a forgotten translation
shows something readable instead of failing a send.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fluent.runtime import FluentBundle, FluentResource
from fluent.syntax import ast as fluent_ast

from companion.resources import package_folder

log = logging.getLogger(__name__)

DEFAULT_LOCALES_DIR = package_folder("companion", "locales")


class Translator:
    """Fluent bundles per language; `get(language, key, **args)` formats one message."""

    def __init__(
        self,
        locales_dir: Path | None = None,
        *,
        fallbacks: Sequence[str] = ("ru", "en"),
    ) -> None:
        self._dir = locales_dir or DEFAULT_LOCALES_DIR
        self._fallbacks = tuple(fallbacks)
        self._bundles: dict[str, FluentBundle] = {}
        self.reload()

    @property
    def languages(self) -> list[str]:
        """Languages that have at least one .ftl file, sorted."""
        return sorted(self._bundles)

    def reload(self) -> None:
        """(Re)read every language folder; a broken entry is logged and skipped, not fatal."""
        bundles: dict[str, FluentBundle] = {}
        if self._dir.is_dir():
            for folder in sorted(p for p in self._dir.iterdir() if p.is_dir()):
                files = sorted(folder.glob("*.ftl"))
                if not files:
                    continue
                # Isolation marks (U+2068/U+2069) around arguments would end up in Telegram
                # messages and inside URLs; our texts are not mixed-direction.
                bundle = FluentBundle([folder.name], use_isolating=False)
                for path in files:
                    resource = FluentResource(path.read_text(encoding="utf-8"))
                    for entry in resource.body:
                        if isinstance(entry, fluent_ast.Junk):
                            log.error(
                                "fluent syntax error in %s: %s",
                                path,
                                entry.content.strip().splitlines()[0] if entry.content else "",
                            )
                    # Later files may not silently replace a key another file defines.
                    bundle.add_resource(resource, allow_overrides=False)
                bundles[folder.name] = bundle
        self._bundles = bundles

    def has(self, language: str, key: str) -> bool:
        bundle = self._bundles.get(language)
        return bundle is not None and bundle.has_message(key)

    def get(self, language: str, key: str, **args: Any) -> str:
        """The text for `key` in `language`, falling back to other languages, then to `key`."""
        for lang in self._chain(language):
            bundle = self._bundles.get(lang)
            if bundle is None or not bundle.has_message(key):
                continue
            message = bundle.get_message(key)
            if message.value is None:
                continue
            text, errors = bundle.format_pattern(message.value, args)
            if errors:
                log.warning("fluent %s/%s: %s", lang, key, "; ".join(map(str, errors)))
            return str(text)
        log.warning("missing translation %r for %r", key, language)
        return key

    def _chain(self, language: str) -> list[str]:
        chain = [language]
        chain.extend(lang for lang in self._fallbacks if lang != language)
        return chain
