"""The loop that runs check-ins: in every bot worker, safe with any number of them.

Each tick: jobs whose worker died mid-send are marked unknown (`JobStore.recover`), users'
new facts are planned, then due jobs are claimed one at a time (a lease each) and run, and
the due-jobs gauge is updated. The composition root starts it with the bot and stops it with
a bound: the job in hand may finish within `stop_timeout_s`, then the loop is cancelled (a job
cancelled before its send mark is claimed again after its lease; after it, never resent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from companion.outreach.service import OutreachService

log = logging.getLogger(__name__)


class CheckinScheduler:
    def __init__(
        self,
        service: OutreachService,
        *,
        interval_s: float = 60.0,
        batch: int = 100,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self._service = service
        self._interval_s = interval_s
        self._batch = batch
        self._stop_timeout_s = stop_timeout_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def service(self) -> OutreachService:
        return self._service

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        if self._service.sender is None:
            raise RuntimeError("check-ins need a Bot API client to send with")
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="outreach-scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._stop_timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except asyncio.CancelledError:
            task.cancel()
            raise

    async def run_once(self) -> dict[str, int]:
        """One tick; returns how the jobs it ran ended ({"sent": 1, "skipped:blocked": 2})."""
        service = self._service
        store, metrics = service.store, service.metrics
        recovered = await store.recover(service.clock.now())
        if recovered:
            metrics.unknown.inc(recovered)
            log.warning("check-ins: %d sends cut off by a crash marked unknown", recovered)
        await service.plan_due()
        outcomes: Counter[str] = Counter()
        for _ in range(self._batch):
            if self._stopping.is_set():
                break
            job = await service.claim_next()
            if job is None:
                break
            try:
                outcomes[await service.run_job(job)] += 1
            except Exception:  # its lease expires and it is tried again (up to MAX_ATTEMPTS)
                log.exception("check-in job %s failed", job.kind.value)
                outcomes["error"] += 1
        metrics.due.set(await store.count_due(service.clock.now()))
        return dict(outcomes)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                outcomes = await self.run_once()
                if outcomes:
                    log.info("check-ins: %s", outcomes)
            except Exception:  # the database is briefly down: try again next tick
                log.exception("check-ins tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)
