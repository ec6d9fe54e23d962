"""One router per screen; `companion.bot.dispatcher.build_routers` includes them, in order."""
