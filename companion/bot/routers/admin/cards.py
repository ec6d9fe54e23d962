"""The owner sends a Character Card (V2/V3, PNG or JSON, as a file) to import it as a persona.

The same use case as `companion personas import` (`companion.personas.card_import`): the card
becomes a YAML file in the persona library only when it validates, and the library reloads it
at once. The caption may hold options, e.g. ``id=lena module=partner overwrite``.
Only under the admin router (`IsAdmin`); anyone else's file gets the usual "unsupported" answer.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import StateFilter
from aiogram.types import Message
from aiohttp import ClientError

from companion.bot.filters import Check, Magic
from companion.bot.localization import I18n
from companion.bot.texts import escape
from companion.domain.personas import Module
from companion.personas.card_files import MAX_CARD_BYTES
from companion.personas.card_import import CardImportError, PersonaExistsError, import_card
from companion.personas.repository import PersonaRepository

log = logging.getLogger(__name__)

CARD_SUFFIXES = (".json", ".png")
CARD_MIME_TYPES = ("application/json", "image/png")
DOWNLOAD_TIMEOUT_S = 60
# Validation problems listed in the reply; the rest are counted.
MAX_LISTED_ISSUES = 10


class CaptionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CardOptions:
    persona_id: str | None = None
    module: Module | None = None
    overwrite: bool = False


def parse_caption(caption: str | None) -> CardOptions:
    """``id=lena module=partner overwrite`` (any order, all optional)."""
    options: dict[str, str] = {}
    overwrite = False
    for token in (caption or "").split():
        key, sep, value = token.partition("=")
        if not sep and key.lower() in {"overwrite", "force"}:
            overwrite = True
        elif sep and key.lower() in {"id", "module"} and value:
            options[key.lower()] = value
        else:
            raise CaptionError(token)
    try:
        module = Module(options["module"].lower()) if "module" in options else None
    except ValueError:
        raise CaptionError(options["module"]) from None
    return CardOptions(options.get("id"), module, overwrite)


def _is_card_file(message: Message) -> bool:
    document = message.document
    if document is None:
        return False
    name = (document.file_name or "").lower()
    return name.endswith(CARD_SUFFIXES) or (document.mime_type or "") in CARD_MIME_TYPES


async def _download(bot: Bot, file_id: str) -> bytes:
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer, timeout=DOWNLOAD_TIMEOUT_S)
    return buffer.getvalue()


async def import_card_file(
    message: Message, bot: Bot, i18n: I18n, persona_library: PersonaRepository
) -> None:
    document = message.document
    assert document is not None  # the filter
    if (document.file_size or 0) > MAX_CARD_BYTES:
        await message.answer(i18n("admin-card-too-large", limit_mb=MAX_CARD_BYTES // 2**20))
        return
    try:
        options = parse_caption(message.caption)
        raw = await _download(bot, document.file_id)
    except CaptionError as exc:
        await message.answer(i18n("admin-card-bad-caption", token=escape(str(exc))))
        return
    except (TelegramAPIError, ClientError, TimeoutError) as exc:
        log.warning("card download failed: %s", type(exc).__name__)
        await message.answer(i18n("admin-card-download-failed"))
        return
    name = document.file_name or "card"
    await message.answer(await _import(raw, name, options, i18n, persona_library))


async def _import(
    raw: bytes, name: str, options: CardOptions, i18n: I18n, library: PersonaRepository
) -> str:
    """The reply: what was imported, or why not (nothing written then)."""
    try:
        result = await asyncio.to_thread(
            import_card,
            raw,
            library.directory,
            name=name,
            module=options.module,
            persona_id=options.persona_id,
            force=options.overwrite,
        )
    except PersonaExistsError as exc:
        return i18n("admin-card-exists", file=escape(exc.yaml_path.name))
    except CardImportError as exc:
        return i18n("admin-card-unreadable", reason=escape(str(exc)))
    if not result.ok:
        lines = [escape(str(issue)) for issue in result.issues[:MAX_LISTED_ISSUES]]
        if (more := len(result.issues) - len(lines)) > 0:
            lines.append(i18n("admin-card-more", more=more))
        return i18n("admin-card-invalid", issues="\n".join(lines))
    reloaded = library.reload_file(result.yaml_path)
    persona = result.persona
    log.info("persona %s imported from a card by an admin", persona.id)
    if reloaded.issues:  # written, but the library refuses it (an id another file has)
        lines = [escape(str(issue)) for issue in reloaded.issues[:MAX_LISTED_ISSUES]]
        return i18n("admin-card-not-loaded", issues="\n".join(lines))
    return i18n(
        "admin-card-imported",
        id=escape(persona.id),
        name=escape(persona.display_name(i18n.language)),
        module=persona.module.value,
        languages=", ".join(persona.languages),
    )


def build_router() -> Router:
    router = Router(name="admin-cards")
    # No FSM state: a broadcast being composed may take a photo or a file as its content.
    router.message.register(
        import_card_file,
        Check(_is_card_file),
        StateFilter(None),
        Magic(F.chat.type == "private"),
        flags={"consent_free": True},
    )
    return router
