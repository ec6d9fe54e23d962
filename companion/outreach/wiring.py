"""Building check-ins for the composition root (`companion.app.build_app`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from companion.config import Settings
from companion.domain.ports import (
    CheckinSender,
    ConversationStore,
    Entitlements,
    FactSource,
    MemoryWriter,
    MessageStore,
    PersonaCatalog,
    UserLocks,
    UserStore,
)
from companion.llm.base import ChatModel
from companion.outreach.activity import ActivityTap
from companion.outreach.clock import Clock, as_clock
from companion.outreach.crisis import CrisisEvents
from companion.outreach.metrics import OutreachMetrics
from companion.outreach.scheduler import CheckinScheduler
from companion.outreach.service import OutreachService
from companion.outreach.store import JobStore
from companion.outreach.writer import CheckinWriter, TextCatalog


@dataclass(slots=True)
class OutreachComponents:
    service: OutreachService
    scheduler: CheckinScheduler
    store: JobStore

    def attach_sender(self, sender: CheckinSender) -> None:
        self.service.sender = sender

    def tap(self, inner: MemoryWriter | None) -> MemoryWriter:
        """The dialogue service's after-reply hook: memory's, plus check-in activity."""
        return ActivityTap(inner, self.service)

    async def aclose(self) -> None:
        await self.scheduler.stop()
        await self.service.drain()


def build_outreach(
    settings: Settings,
    db: AsyncDatabase[dict[str, Any]],
    *,
    users: UserStore,
    personas: PersonaCatalog,
    conversations: ConversationStore,
    messages: MessageStore,
    locks: UserLocks,
    llm: ChatModel,
    texts: TextCatalog,
    registry: CollectorRegistry,
    facts: FactSource | None,
    entitlements: Entitlements | None = None,
    clock: Clock | Callable[[], datetime] | None = None,
) -> OutreachComponents | None:
    """Check-ins, or None when `outreach.enabled` is false."""
    config = settings.outreach
    if not config.enabled:
        return None
    store = JobStore(db)
    service = OutreachService(
        store=store,
        users=users,
        personas=personas,
        conversations=conversations,
        messages=messages,
        crisis=CrisisEvents(db),
        locks=locks,
        writer=CheckinWriter(llm, texts),
        settings=config,
        clock=as_clock(clock),
        metrics=OutreachMetrics(registry),
        facts=facts,
        entitlements=entitlements,
        plan_delay_s=config.plan_delay_s,
    )
    scheduler = CheckinScheduler(service, interval_s=config.poll_interval_s)
    return OutreachComponents(service, scheduler, store)
