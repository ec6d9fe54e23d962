"""One router per screen; `companion.bot.runner.build_dispatcher` composes them in order."""
