"""Telegram Bot API emulator (server side) and simulated users (client side)."""

from tests.emulators.telegram.client import TelegramUser
from tests.emulators.telegram.server import (
    DEFAULT_TOKEN,
    ApiCall,
    StoredFile,
    TelegramBotAPIEmulator,
    WebhookDelivery,
)

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "StoredFile",
    "TelegramBotAPIEmulator",
    "TelegramUser",
    "WebhookDelivery",
]
