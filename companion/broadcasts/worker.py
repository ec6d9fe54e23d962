"""The sending loop: one `BroadcastWorker` per bot process, started and stopped with the bot.

For each campaign it leases (`store`), the worker:

1. declares claims left by a worker that died "unconfirmed" (never resent, see below);
2. walks the pending recipients in id order, a few sends in flight, paced by `Pacer` at
   `rate_per_s` over everything it sends; a 429 pauses every send for ``retry_after`` and the
   recipient is tried again (up to `max_retries`);
3. per recipient: re-reads the profile (opted out, blocked or erased since confirm: skipped),
   marks it *claimed*, calls the Bot API, marks the outcome; "blocked" also sets
   `User.blocked_at`, so later segments leave the person out;
4. renews its lease and edits the admin's progress message every few seconds; when nothing is
   pending, marks the campaign done and sends the final report (once).

Exactly once, as far as it can be: a recipient is claimed before the call and marked after it,
both conditional updates, so no two workers send to one person and a restart resumes with the
pending ones. The one window left is a crash between the Bot API call and the mark: the message
may or may not have gone out, and Telegram has no idempotency key to ask. Such a recipient
stays claimed, and the next worker marks it *unconfirmed* instead of sending again: at most
once, like payment crediting, because a second copy of an ad is worse than a missing one. A
send with no answer at all (network error) is unconfirmed for the same reason.

A graceful stop (`stop`) lets the sends in flight finish and leaves the rest pending, with the
lease released for the next worker; `abort` stops at once, as a crash would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from aiolimiter import AsyncLimiter

from companion.broadcasts.models import (
    Campaign,
    CampaignStatus,
    Outcome,
    RecipientState,
    Report,
)
from companion.broadcasts.ports import BroadcastProgress, BroadcastSender
from companion.broadcasts.store import CampaignStore
from companion.config import BroadcastSettings
from companion.domain.models import User, utcnow
from companion.domain.ports import UserStore

log = logging.getLogger(__name__)

_STATES = {
    Outcome.SENT: RecipientState.SENT,
    Outcome.BLOCKED: RecipientState.BLOCKED,
    Outcome.FAILED: RecipientState.FAILED,
    Outcome.RETRY: RecipientState.FAILED,  # still rate limited after every retry
    Outcome.UNCONFIRMED: RecipientState.UNCONFIRMED,
}
_BATCH = 200


class Pacer:
    """At most `rate_per_s` sends per second, evenly spaced (no burst), and a shared pause
    after a 429: Telegram's limit is for the whole bot, so one refusal slows every send."""

    def __init__(self, rate_per_s: float) -> None:
        self._limiter = AsyncLimiter(1, 1.0 / rate_per_s)
        self._resume_at = 0.0

    async def wait(self) -> None:
        # Another 429 during the pause moves its end: look again after each sleep.
        delay = self._resume_at - time.monotonic()
        while delay > 0:
            await asyncio.sleep(delay)
            delay = self._resume_at - time.monotonic()
        await self._limiter.acquire()

    def pause(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, time.monotonic() + seconds)


def receives_news(user: User | None) -> bool:
    return (
        user is not None and user.has_consented and user.blocked_at is None and user.settings.news
    )


class BroadcastWorker:
    def __init__(
        self,
        store: CampaignStore,
        users: UserStore,
        settings: BroadcastSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._users = users
        self._settings = settings
        self._clock = clock
        # Random: it ends up in recipient documents, which /export shows to the person.
        self.owner = uuid.uuid4().hex[:16]
        self._pacer = Pacer(settings.rate_per_s)
        self._sender: BroadcastSender | None = None
        self._progress: BroadcastProgress | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()

    def attach(self, sender: BroadcastSender, progress: BroadcastProgress) -> None:
        """The Telegram side, once the bot exists (the composition root)."""
        self._sender, self._progress = sender, progress

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        if self._sender is None:
            log.warning("broadcasts: no Bot API client, campaigns are not sent by this process")
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="broadcast-worker")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Finish the sends in flight (up to `stop_timeout_s`), leave the rest pending."""
        task = self._task
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._settings.stop_timeout_s)
        except TimeoutError:
            log.warning("broadcasts: sends still in flight at shutdown, dropped")
            await self.abort()
        self._task = None

    async def abort(self) -> None:
        """Stop at once, writing nothing, as a crash would (the lease runs out by itself)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = await self.run_once()
            except Exception:  # e.g. the database is briefly down: try again later
                log.exception("broadcasts: the worker loop failed")
                worked = False
            if not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)

    async def run_once(self) -> bool:
        """Work on the oldest campaign if this worker can lease it; False when there was none."""
        campaign = await self._store.next_to_work_on()
        if campaign is None:
            return False
        ttl = self._settings.lease_s
        if not await self._store.take_lease(campaign.id, self.owner, now=self._clock(), ttl_s=ttl):
            return False
        campaign = await self._store.get(campaign.id) or campaign  # cancelled meanwhile?
        if campaign.status in (CampaignStatus.CONFIRMED, CampaignStatus.SENDING):
            finished = await self._send(campaign)
        else:
            finished = True  # done or cancelled, only the report is missing
        if finished:
            await self._report(campaign.id)
        await self._store.release_lease(campaign.id, self.owner)
        return True

    async def _send(self, campaign: Campaign) -> bool:
        """Send what is pending; True when the campaign is over (done, or cancelled)."""
        store, cid = self._store, campaign.id
        self._lost.clear()
        orphans = await store.orphaned_claims(cid, self.owner, now=self._clock())
        if orphans:
            log.warning("broadcast %s: %d send(s) cut off by a restart, not resent", cid, orphans)
        report = await store.report(cid)
        log.info("broadcast %s: sending, %d of %d pending", cid, report.pending, report.total)
        async with asyncio.TaskGroup() as group:
            ticker = group.create_task(self._tick(campaign, report))
            await self._send_pending(campaign, report, group)
            ticker.cancel()
        if self._stopping.is_set():
            return False
        if self._lost.is_set():
            current = await store.get(cid)
            return current is not None and current.status is CampaignStatus.CANCELLED
        # Claims left by a send that raised (every task is over): maybe sent, never resent.
        await store.orphaned_claims(cid, "", now=self._clock())
        await store.finish(cid, self.owner, now=self._clock())
        return True

    async def _send_pending(
        self, campaign: Campaign, report: Report, group: asyncio.TaskGroup
    ) -> None:
        slots = asyncio.Semaphore(self._settings.concurrency)
        in_flight: set[asyncio.Task[None]] = set()
        handed: set[str] = set()  # each recipient goes to one task per run, whatever happens
        while True:
            after, fresh = "", False
            while batch := await self._store.pending(campaign.id, after=after, limit=_BATCH):
                after = batch[-1][0]
                for rid, user_id in batch:
                    if rid in handed:
                        continue
                    if self._stopping.is_set() or self._lost.is_set():
                        return
                    await slots.acquire()
                    fresh = True
                    handed.add(rid)
                    task = group.create_task(self._deliver(campaign, rid, user_id, report))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    task.add_done_callback(lambda _: slots.release())
            if in_flight:  # recipients added by a late second confirm show up on a new pass
                await asyncio.wait(set(in_flight))
            if not fresh:
                return

    async def _deliver(self, campaign: Campaign, rid: str, user_id: int, report: Report) -> None:
        assert self._sender is not None
        store, owner = self._store, self.owner
        try:
            user = await self._users.get(user_id)
            if user is None or not receives_news(user):
                if await store.skip(rid, now=self._clock()):
                    report.move(RecipientState.PENDING, RecipientState.SKIPPED)
                return
            for attempt in range(self._settings.max_retries + 1):
                await self._pacer.wait()
                if self._stopping.is_set() or self._lost.is_set():
                    return
                if not await store.claim(rid, owner, now=self._clock()):
                    return  # another worker has it, or the person was erased
                report.move(RecipientState.PENDING, RecipientState.CLAIMED)
                delivery = await self._sender.send(user_id, user.language, campaign.content)
                if delivery.outcome is Outcome.RETRY and attempt < self._settings.max_retries:
                    self._pacer.pause(delivery.retry_after)
                    if await store.unclaim(rid, owner):
                        report.move(RecipientState.CLAIMED, RecipientState.PENDING)
                    continue
                state = _STATES[delivery.outcome]
                await store.mark(rid, owner, state, now=self._clock(), detail=delivery.detail)
                report.move(RecipientState.CLAIMED, state)
                if state is RecipientState.BLOCKED:
                    await self._users.update(user_id, blocked_at=self._clock())
                return
        except Exception:  # one recipient must not stop the campaign
            log.exception("broadcast %s: a recipient failed", campaign.id)
            # Before the call it was never sent; after it, this leaves it claimed, and the end
            # of the campaign declares it unconfirmed.
            with contextlib.suppress(Exception):
                await store.fail_unsent(rid, now=self._clock())

    async def _tick(self, campaign: Campaign, report: Report) -> None:
        """Renew the lease (noticing a cancel) and show progress, every few seconds."""
        settings = self._settings
        every = min(settings.progress_interval_s, settings.lease_s / 3)
        shown = time.monotonic()
        while True:
            await asyncio.sleep(every)
            try:
                renewed = await self._store.renew_lease(
                    campaign.id, self.owner, now=self._clock(), ttl_s=settings.lease_s
                )
            except Exception:  # a database blip: sends go on (their writes are conditional)
                log.warning("broadcast %s: lease not renewed this time", campaign.id)
                continue
            if not renewed:
                self._lost.set()
                return
            if time.monotonic() - shown >= settings.progress_interval_s:
                shown = time.monotonic()
                await self._show_progress(campaign, report)

    async def _show_progress(self, campaign: Campaign, report: Report) -> None:
        if self._progress is None:
            return
        try:
            await self._progress.progress(campaign, report)
        except Exception:  # the admin's view is not worth stopping for
            log.exception("broadcast %s: progress not shown", campaign.id)

    async def _report(self, campaign_id: str) -> None:
        """The final report, once (a crash right here loses it rather than repeating it)."""
        if not await self._store.mark_reported(campaign_id):
            return
        campaign = await self._store.get(campaign_id)
        if campaign is None or self._progress is None:
            return
        report = await self._store.report(campaign_id)
        log.info(
            "broadcast %s: %s; sent %d, blocked %d, failed %d, unconfirmed %d, skipped %d",
            campaign_id,
            campaign.status.value,
            report.sent,
            report.blocked,
            report.failed,
            report.unconfirmed,
            report.skipped,
        )
        try:
            await self._progress.finished(campaign, report)
        except Exception:
            log.exception("broadcast %s: the report was not delivered", campaign_id)
