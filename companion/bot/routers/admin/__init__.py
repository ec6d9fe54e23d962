"""The owner's console: /admin and its sections, only for ``telegram.admin_ids``.

Sections are sub-routers of one guarded router (`IsAdmin` on its messages and buttons), each
answering its own `AdminSection` value: ``users`` (`users`), ``dev`` (`developer`), and the
sections other modules bring (stats, broadcast, mood): one `include_router` line each below.
Everyone who is not an admin falls through to the routers after this one, so /admin gets the
unknown-command answer. See docs/admin.md.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command

from companion.bot.routers.admin import broadcast, cards, developer, menu, mood, stats, users
from companion.bot.routers.admin.callbacks import AdminSection
from companion.bot.routers.admin.filters import IsAdmin
from companion.bot.routers.admin.menu import CONSENT_FREE


def build_router() -> Router:
    """A fresh router per dispatcher (`companion.bot.dispatcher.build_routers` calls this)."""
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    # Sections: one line each. Before the menu, so `/admin user 42` reaches its section.
    router.include_router(users.build_router())
    router.include_router(developer.build_router())
    router.include_router(cards.build_router())  # a Character Card file sent to the bot
    router.include_router(mood.build_router())
    router.include_router(stats.build_router())
    router.include_router(broadcast.build_router())  # composing waits in an FSM state
    router.include_router(_menu_router())  # last: plain /admin (with any arguments) and "back"
    _mark_consent_free(router)
    return router


def _mark_consent_free(router: Router) -> None:
    """Every handler of the console, whichever section brought it, runs for an admin who never
    accepted the terms (`companion.bot.middlewares.consent` reads the handler's flags)."""
    for name, observer in router.observers.items():
        if name not in {"update", "error", "errors"}:
            for handler in observer.handlers:
                handler.flags.update(CONSENT_FREE)
    for child in router.sub_routers:
        _mark_consent_free(child)


def _menu_router() -> Router:
    router = Router(name="admin-menu")
    router.message.register(menu.open_menu, Command("admin"), flags=CONSENT_FREE)
    router.callback_query.register(
        menu.back_to_menu, AdminSection.filter(F.section == "menu"), flags=CONSENT_FREE
    )
    return router
