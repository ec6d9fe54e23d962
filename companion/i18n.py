"""User-facing texts from Fluent files: ``companion/locales/<language>/*.ftl``.

Every ``.ftl`` file of a language folder goes into that language's bundle, so each part of the
service keeps its own file (``bot.ftl``, ``voice.ftl``, ``billing.ftl``, ``dialog.ftl``...). Keys
use dashes (``support-disclaimer``). A key missing in the user's language falls back to the
other languages in ``fallbacks`` order and finally to the key itself, so a forgotten translation
shows something readable instead of failing a send.

Texts said in a persona's voice select on ``$address`` ("ty" / "vy": the persona's ты/вы,
`companion.personas.forms.address_of`). Rendering one without a valid ``address`` raises
`AddressMissingError`: a text that would silently fall back to the default form in one place
and follow the persona in another is a bug every test run catches, not a mixed chat.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fluent.runtime import FluentBundle, FluentResource
from fluent.syntax import ast as fluent_ast
from fluent.syntax.visitor import Visitor

from companion.resources import package_folder

log = logging.getLogger(__name__)

DEFAULT_LOCALES_DIR = package_folder("companion", "locales")
ADDRESS_FORMS = ("ty", "vy")


class AddressMissingError(ValueError):
    """A persona-voiced text was rendered without the persona's form of address."""


class _References(Visitor):
    """The variables and other messages one message refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.variables: set[str] = set()
        self.messages: set[str] = set()

    def visit_VariableReference(self, node: fluent_ast.VariableReference) -> None:  # noqa: N802
        self.variables.add(node.id.name)

    def visit_MessageReference(self, node: fluent_ast.MessageReference) -> None:  # noqa: N802
        self.messages.add(node.id.name)


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
        self._addressed: frozenset[str] = frozenset()
        self.reload()

    @property
    def addressed_keys(self) -> frozenset[str]:
        """Keys whose text in some language selects on ``$address`` (persona-voiced)."""
        return self._addressed

    @property
    def languages(self) -> list[str]:
        """Languages that have at least one .ftl file, sorted."""
        return sorted(self._bundles)

    def reload(self) -> None:
        """(Re)read every language folder; a broken entry is logged and skipped, not fatal."""
        bundles: dict[str, FluentBundle] = {}
        references: dict[str, _References] = {}
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
                        if isinstance(entry, fluent_ast.Message):
                            references.setdefault(entry.id.name, _References()).visit(entry)
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
        self._addressed = _addressed(references)

    def has(self, language: str, key: str) -> bool:
        bundle = self._bundles.get(language)
        return bundle is not None and bundle.has_message(key)

    def get(self, language: str, key: str, **args: Any) -> str:
        """The text for `key` in `language`, falling back to other languages, then to `key`.

        Raises `AddressMissingError` for a persona-voiced key without ``address`` ("ty"/"vy").
        """
        if key in self._addressed and args.get("address") not in ADDRESS_FORMS:
            raise AddressMissingError(
                f"{key!r} is said in a persona's voice: pass address=address_of(persona) "
                f"(got {args.get('address')!r})"
            )
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


def _addressed(references: dict[str, _References]) -> frozenset[str]:
    """Keys that use ``$address`` themselves or through a message they include."""
    found = {key for key, refs in references.items() if "address" in refs.variables}
    grew = True
    while grew:
        more = {key for key, refs in references.items() if refs.messages & found} - found
        found |= more
        grew = bool(more)
    return frozenset(found)
