"""Building broadcasts for the composition root (`companion.app.build_app`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.broadcasts.ports import BroadcastProgress, BroadcastSender
from companion.broadcasts.segments import SegmentQueries
from companion.broadcasts.service import BroadcastService
from companion.broadcasts.store import CampaignStore
from companion.broadcasts.worker import BroadcastWorker
from companion.config import BroadcastSettings
from companion.domain.models import utcnow
from companion.domain.ports import UserStore


@dataclass(slots=True)
class BroadcastComponents:
    service: BroadcastService  # the admin screens
    worker: BroadcastWorker  # started by the bot command; sends nothing without `attach`

    def attach(self, sender: BroadcastSender, progress: BroadcastProgress) -> None:
        self.worker.attach(sender, progress)

    async def aclose(self) -> None:
        await self.worker.stop()


def build_broadcasts(
    settings: BroadcastSettings,
    db: AsyncDatabase[dict[str, Any]],
    users: UserStore,
    *,
    clock: Callable[[], datetime] | None = None,
) -> BroadcastComponents:
    clock = clock or utcnow
    store = CampaignStore(db)
    worker = BroadcastWorker(store, users, settings, clock=clock)
    service = BroadcastService(store, SegmentQueries(db), clock=clock, on_confirmed=worker.wake)
    return BroadcastComponents(service, worker)
