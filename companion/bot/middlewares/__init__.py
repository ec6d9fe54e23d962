"""aiogram middlewares: tracing, throttling, the user's profile and language, the consent gate."""
