"""Inline-button payloads of the admin panel (at most 64 bytes each, as Telegram requires).

`AdminSection` opens a section; each section's router answers its own value, so a section whose
module is not there yet is simply a button nobody answers. Actions inside a section have their
own prefixes (``admu``, ``admd``) so that section routers never see each other's buttons.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

SECTIONS = ("stats", "broadcast", "users", "dev", "mood")


class AdminSection(CallbackData, prefix="adm"):
    section: str  # "menu" | "stats" | "broadcast" | "users" | "dev" | "mood"


class AdminUserCb(CallbackData, prefix="admu"):
    """Users section. ``action``: ``card`` (show or refresh), ``find`` (ask for another user),
    ``g`` (grant: choose a plan), ``gp`` (confirm the plan), ``gk`` (grant; ``ref`` is the
    request id, so a double tap grants once), ``r`` (refund: choose a payment), ``rp`` (confirm
    it), ``rk`` (refund the payment ``ref``)."""

    action: str
    user: int = 0
    plan: str = ""
    ref: str = ""


class AdminDevCb(CallbackData, prefix="admd"):
    """Developer view: ``action`` refresh | reload."""

    action: str
