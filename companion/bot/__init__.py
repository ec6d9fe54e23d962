"""The Telegram front-end (aiogram 3). It is built by `companion.app.build_app`; the dispatcher
is `companion.bot.dispatcher.build_dispatcher(App.bot_services(), storage)`; what handlers
receive by name is `companion.bot.services.BotServices`. See docs/telegram.md."""
