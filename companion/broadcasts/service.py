"""What the admin screens call: compose a draft, count a segment, confirm, cancel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from companion.broadcasts.models import Campaign, CampaignStatus, Content, Segment
from companion.broadcasts.segments import SegmentQueries
from companion.broadcasts.store import CampaignStore
from companion.domain.models import utcnow


class BroadcastService:
    def __init__(
        self,
        store: CampaignStore,
        segments: SegmentQueries,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_confirmed: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._segments = segments
        self._clock = clock
        # Wakes this process's worker, so a confirmed campaign starts at once.
        self.on_confirmed = on_confirmed

    async def draft(self, content: Content, *, admin_id: int, admin_language: str) -> Campaign:
        return await self._store.create(
            content, admin_id=admin_id, admin_language=admin_language, now=self._clock()
        )

    async def get(self, campaign_id: str) -> Campaign | None:
        return await self._store.get(campaign_id)

    async def count(self, segment: Segment) -> int:
        return await self._segments.count(segment, self._clock())

    async def confirm(
        self, campaign_id: str, segment: Segment, *, chat_id: int, message_id: int
    ) -> Campaign | None:
        """Write the segment's members as recipients, then confirm; None when the campaign is
        not a draft any more (confirmed by a second press, or cancelled).

        Recipients are written before the status changes, so a confirmed campaign always has
        all of them; a crash in between leaves a draft that a second press confirms."""
        campaign = await self._store.get(campaign_id)
        if campaign is None or campaign.status is not CampaignStatus.DRAFT:
            return None
        now = self._clock()
        await self._store.add_recipients(campaign_id, await self._segments.user_ids(segment, now))
        confirmed = await self._store.confirm(
            campaign_id, segment, now=now, progress_chat_id=chat_id, progress_message_id=message_id
        )
        if confirmed is not None and self.on_confirmed is not None:
            self.on_confirmed()
        return confirmed

    async def cancel(self, campaign_id: str) -> bool:
        return await self._store.cancel(campaign_id, now=self._clock())
