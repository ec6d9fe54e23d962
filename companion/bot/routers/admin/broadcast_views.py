"""Screens of the admin's broadcast section: keyboards, segment names, the FSM states."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from companion.bot.broadcast_sender import BroadcastCb
from companion.bot.localization import SUPPORTED_LANGUAGES, I18n
from companion.bot.routers.admin.menu import back_row
from companion.broadcasts.models import Content, Segment, SegmentKind
from companion.domain.ports import PersonaCatalog

INACTIVE_DAYS = (3, 7, 14, 30)
_CALLBACK_LIMIT = 64  # bytes, Telegram's limit for callback data


class BroadcastStates(StatesGroup):
    compose = State()  # waits for the text or photo to send
    buttons = State()  # waits for "Text | URL" lines (or the "no buttons" button)
    inactive_days = State()  # a number of days may be typed instead of pressing a preset


def content_of(message: Message) -> Content | None:
    """The admin's message as broadcast content, formatting kept; None if it is not text or a
    photo, or has nothing to say."""
    if message.photo:
        return Content(
            text=message.html_text if message.caption else "", photo=message.photo[-1].file_id
        )
    if message.text and message.text.strip():
        return Content(text=message.html_text)
    return None


def _button(text: str, cb: BroadcastCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=cb.pack())


def _cancel_row(i18n: I18n, campaign: str = "") -> list[InlineKeyboardButton]:
    return [_button(i18n("broadcast-cancel"), BroadcastCb(action="cancel", campaign=campaign))]


def cancel_keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[_cancel_row(i18n)])


def buttons_keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    no_buttons = _button(i18n("broadcast-no-buttons"), BroadcastCb(action="nobuttons"))
    return InlineKeyboardMarkup(inline_keyboard=[[no_buttons], _cancel_row(i18n)])


def _seg(campaign: str, kind: SegmentKind, value: str = "") -> BroadcastCb:
    return BroadcastCb(action="seg", campaign=campaign, kind=kind.value, value=value)


def segments_keyboard(i18n: I18n, campaign: str) -> InlineKeyboardMarkup:
    k = SegmentKind
    rows = [
        [
            _button(i18n("broadcast-segment-all"), _seg(campaign, k.ALL)),
            _button(i18n("broadcast-segment-pro"), _seg(campaign, k.PRO)),
            _button(i18n("broadcast-segment-free"), _seg(campaign, k.FREE)),
        ],
        [
            _button(
                i18n("broadcast-segment-language", lang=lang.upper()),
                _seg(campaign, k.LANGUAGE, lang),
            )
            for lang in SUPPORTED_LANGUAGES
        ],
        [
            _button(i18n("broadcast-segment-persona"), _seg(campaign, k.PERSONA)),
            _button(i18n("broadcast-segment-inactive"), _seg(campaign, k.INACTIVE)),
        ],
        _cancel_row(i18n, campaign),
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _back(i18n: I18n, campaign: str) -> list[InlineKeyboardButton]:
    return [_button(i18n("broadcast-back"), BroadcastCb(action="segments", campaign=campaign))]


def personas_keyboard(i18n: I18n, campaign: str, personas: PersonaCatalog) -> InlineKeyboardMarkup:
    rows = []
    for persona in personas.all():
        cb = _seg(campaign, SegmentKind.PERSONA, persona.id)
        if len(cb.pack().encode()) <= _CALLBACK_LIMIT:
            rows.append([_button(persona.display_name(i18n.language), cb)])
    return InlineKeyboardMarkup(inline_keyboard=[*rows, _back(i18n, campaign)])


def days_keyboard(i18n: I18n, campaign: str) -> InlineKeyboardMarkup:
    row = [
        _button(i18n("broadcast-days", days=days), _seg(campaign, SegmentKind.INACTIVE, str(days)))
        for days in INACTIVE_DAYS
    ]
    return InlineKeyboardMarkup(inline_keyboard=[row, _back(i18n, campaign)])


def confirm_keyboard(i18n: I18n, campaign: str, segment: BroadcastCb) -> InlineKeyboardMarkup:
    send = BroadcastCb(action="send", campaign=campaign, kind=segment.kind, value=segment.value)
    rows = [
        [_button(i18n("broadcast-send"), send)],
        _back(i18n, campaign),
        _cancel_row(i18n, campaign),
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def retry_keyboard(i18n: I18n, campaign: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[_back(i18n, campaign), _cancel_row(i18n, campaign)]
    )


def menu_keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[back_row(i18n)])


def segment_of(cb: BroadcastCb) -> Segment | None:
    """The segment a button names; None for a forged or incomplete one."""
    try:
        kind = SegmentKind(cb.kind)
        if kind is SegmentKind.LANGUAGE:
            return (
                Segment(kind=kind, language=cb.value) if cb.value in SUPPORTED_LANGUAGES else None
            )
        if kind is SegmentKind.PERSONA:
            return Segment(kind=kind, persona_id=cb.value) if cb.value else None
        if kind is SegmentKind.INACTIVE:
            return Segment(kind=kind, inactive_days=int(cb.value)) if cb.value else None
        return Segment(kind=kind)
    except ValueError:  # an unknown kind, days that are not a number or out of range
        return None


def segment_name(segment: Segment, i18n: I18n, personas: PersonaCatalog) -> str:
    value = segment.language or str(segment.inactive_days or "")
    if segment.persona_id is not None:
        persona = personas.get(segment.persona_id)
        value = persona.display_name(i18n.language) if persona else segment.persona_id
    return i18n("broadcast-segment-name", kind=segment.kind.value, value=value)
