"""The persona library screen: one photo card at a time, with paging and a module filter.

Paging edits the same message (photo, caption and buttons), so the chat does not fill up with
cards. The state of the screen lives in the buttons themselves (module and index), which keeps
the bot stateless across workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from companion.bot.callbacks import LibraryCb
from companion.bot.localization import I18n
from companion.bot.photos import PhotoSender
from companion.bot.texts import TELEGRAM_CAPTION_LIMIT, escape, shorten
from companion.domain.personas import Module, Persona
from companion.domain.ports import PersonaCatalog
from companion.personas.forms import persona_text_args


@dataclass(slots=True)
class Card:
    persona: Persona
    image: Path | None
    caption: str
    markup: InlineKeyboardMarkup


class LibraryView:
    def __init__(self, personas: PersonaCatalog, photos: PhotoSender) -> None:
        self._personas = personas
        self._photos = photos

    def persona(self, persona_id: str) -> Persona | None:
        return self._personas.get(persona_id)

    def personas(self, language: str, module: str = "") -> list[Persona]:
        selected = Module(module) if module in Module._value2member_map_ else None
        found = self._personas.all(language=language, module=selected)
        return found or self._personas.all(module=selected)

    def modules(self, language: str) -> list[Module]:
        present = {p.module for p in self.personas(language)}
        return [m for m in Module if m in present]

    def card(self, i18n: I18n, module: str, index: int) -> Card | None:
        personas = self.personas(i18n.language, module)
        if not personas:
            return None
        index %= len(personas)
        persona = personas[index]
        return Card(
            persona=persona,
            image=self._card_image(persona),
            caption=self._caption(i18n, persona),
            markup=self._markup(i18n, persona, module, index, len(personas)),
        )

    def _card_image(self, persona: Persona) -> Path | None:
        # Library cards never show adult images, whoever looks at the library.
        for image in persona.gallery:
            if not image.adult:
                return self._personas.image_path(persona, image)
        return None

    def _caption(self, i18n: I18n, persona: Persona) -> str:
        name = persona.display_name(i18n.language)
        badges = []
        if persona.pro_only:
            badges.append(i18n("badge-pro"))
        if persona.adult:
            badges.append(i18n("badge-adult"))
        header = f"<b>{escape(name)}</b> · {i18n(f'module-{persona.module.value}')}"
        if badges:
            header += " · " + " ".join(f"<b>{badge}</b>" for badge in badges)
        preview = escape(shorten(persona.preview.get(i18n.language), TELEGRAM_CAPTION_LIMIT - 200))
        return f"{header}\n\n{preview}"

    def _markup(
        self, i18n: I18n, persona: Persona, module: str, index: int, total: int
    ) -> InlineKeyboardMarkup:
        rows: list[list[InlineKeyboardButton]] = [
            [
                InlineKeyboardButton(
                    # A button is plain text: the name forms are not HTML-escaped here.
                    text=i18n("library-choose", **persona_text_args(persona, i18n.language)),
                    callback_data=LibraryCb(
                        action="pick", module=module, index=index, persona=persona.id
                    ).pack(),
                )
            ]
        ]
        if total > 1:
            rows.append(
                [
                    InlineKeyboardButton(
                        text=i18n("library-prev"),
                        callback_data=LibraryCb(
                            action="page", module=module, index=(index - 1) % total
                        ).pack(),
                    ),
                    InlineKeyboardButton(
                        text=f"{index + 1} / {total}",
                        callback_data=LibraryCb(action="noop", module=module, index=index).pack(),
                    ),
                    InlineKeyboardButton(
                        text=i18n("library-next"),
                        callback_data=LibraryCb(
                            action="page", module=module, index=(index + 1) % total
                        ).pack(),
                    ),
                ]
            )
        modules = self.modules(i18n.language)
        if len(modules) > 1:
            filters = [("", i18n("library-filter-all"))] + [
                (m.value, i18n(f"module-{m.value}")) for m in modules
            ]
            row = [
                InlineKeyboardButton(
                    text=("• " + label) if value == module else label,
                    callback_data=LibraryCb(action="page", module=value, index=0).pack(),
                )
                for value, label in filters
            ]
            rows.extend(row[i : i + 3] for i in range(0, len(row), 3))
        return InlineKeyboardMarkup(inline_keyboard=rows)

    async def show(self, bot: Bot, chat_id: int, i18n: I18n, *, module: str = "") -> Message:
        """Send the library as a new card message (or a text when it is empty)."""
        card = self.card(i18n, module, 0)
        if card is None:
            return await bot.send_message(chat_id, i18n("library-empty"))
        return await self._photos.send(
            bot,
            chat_id,
            card.image,
            caption=card.caption,
            reply_markup=card.markup,
            placeholder=card.persona.display_name(i18n.language),
        )

    async def turn(
        self, bot: Bot, chat_id: int, message_id: int, i18n: I18n, *, module: str, index: int
    ) -> None:
        """Show another card in the same message."""
        card = self.card(i18n, module, index)
        if card is None:
            await bot.send_message(chat_id, i18n("library-empty"))
            return
        await self._photos.edit(
            bot,
            chat_id,
            message_id,
            card.image,
            caption=card.caption,
            reply_markup=card.markup,
            placeholder=card.persona.display_name(i18n.language),
        )
