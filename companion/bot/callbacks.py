"""Inline-button payloads (at most 64 bytes each, as Telegram requires)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageCb(CallbackData, prefix="lang"):
    code: str
    # "onboard": continue with the welcome and consent; "only": just change the language.
    then: str = "onboard"


class ConsentCb(CallbackData, prefix="consent"):
    action: str = "accept"


class LibraryCb(CallbackData, prefix="lib"):
    action: str  # "page" | "pick" | "noop"
    module: str = ""  # "" = every module
    index: int = 0
    persona: str = ""


class AdultCb(CallbackData, prefix="adult"):
    persona: str


class MemoryCb(CallbackData, prefix="mem"):
    action: str  # "del" | "edit" (pick a fact to reword) | "editmode" / "delmode" | "cancel"
    fact: str = ""


class ForgetCb(CallbackData, prefix="forget"):
    action: str  # "yes" | "no"


class BillingCb(CallbackData, prefix="bill"):
    action: str  # plan | offer | card | stars | cancel | resume
    plan: str = ""
