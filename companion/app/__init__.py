"""The composition root: Settings -> clients -> repositories -> services, in one place.

    async with build_app(settings) as app:                       # every command and the bot
        await app.dialog.start(user, "anna")
    async with build_app(settings, speech=True) as app:          # `companion bot`
        dp = build_dispatcher(app.bot_services(), build_fsm_storage(app.redis, settings.redis))

Everything long-lived is built here, once, and closed here in reverse order when the context
ends, each close within a limit (`shutdown_step_timeout_s`). Tests and benchmarks replace only
what they fake, with `Overrides` (a Bot API emulator's URL, a fake /memory store, a stub
dialogue service...); the rest comes from settings.
"""

from companion.app.container import App, Overrides
from companion.app.root import build_app

__all__ = ["App", "Overrides", "build_app"]
