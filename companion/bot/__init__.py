"""The Telegram front-end (aiogram 3). Entry points are in `companion.bot.runner`; what the bot
needs from the rest of the service is `companion.bot.deps.BotDeps`. See docs/telegram.md."""
