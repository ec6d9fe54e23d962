"""What the broadcast service needs from the Telegram layer (`companion.bot.broadcast_sender`)."""

from __future__ import annotations

from typing import Protocol

from companion.broadcasts.models import Campaign, Content, Delivery, Report


class BroadcastSender(Protocol):
    async def send(self, user_id: int, language: str, content: Content) -> Delivery:
        """Send `content` to one person, with the "turn off news" button in `language`.

        Never raises for a Telegram answer: a refusal is a `Delivery` outcome."""
        ...


class BroadcastProgress(Protocol):
    """The admin's view of a campaign: one message edited as it goes, then the report."""

    async def progress(self, campaign: Campaign, report: Report) -> None: ...
    async def finished(self, campaign: Campaign, report: Report) -> None: ...
