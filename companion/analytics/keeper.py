"""Keeps the reports' daily sets of people computed in the background.

A report over days nobody asked about yet counts them from the raw collections once (up to
~80 s for 90 days at 1M events on the embedded server; BENCHMARKS.md), then reads the kept
days (~0.1-0.3 s). Without this loop the owner pays that once after every upgrade, rebuild or
key rotation, and the first look at each new day. Each round runs every report over the last
`keep_days`, which keeps every closed day; one worker per round does it (a Redis lock that
expires with the round), the others skip. The work is idempotent: a round cut by a shutdown
leaves the days it stored kept and the rest for the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.analytics.service import AnalyticsService

log = logging.getLogger(__name__)


class RollupKeeper:
    def __init__(
        self,
        analytics: AnalyticsService,
        redis: Redis | None,
        *,
        key_prefix: str,
        days: int,
        interval_s: float = 3600.0,
        first_delay_s: float = 120.0,
    ) -> None:
        self._analytics = analytics
        self._redis = redis
        self._lock_key = f"{key_prefix}analytics:keeper"
        self._days = days
        self._interval_s = interval_s
        self._first_delay_s = first_delay_s
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running or self._days <= 0:
            return
        self._task = asyncio.create_task(self._loop(), name="analytics-keeper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()  # nothing to finish: a cut round's stored days stay kept
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run_once(self) -> bool:
        """One round; False when another worker holds this round."""
        if not await self._claim():
            return False
        period = self._analytics.last_days(self._days)
        started = time.perf_counter()
        for name in self._analytics.names:
            await self._analytics.report(name, period)
        log.info(
            "analytics: kept the last %d days of every report in %.1f s",
            self._days,
            time.perf_counter() - started,
        )
        return True

    async def _claim(self) -> bool:
        if self._redis is None:
            return True
        # Expires a little before the next round, so a worker that died mid-round does not
        # hold the next one.
        ttl = max(1, int(self._interval_s * 0.9))
        return bool(await self._redis.set(self._lock_key, "1", nx=True, ex=ttl))

    async def _loop(self) -> None:
        await asyncio.sleep(self._first_delay_s)
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:  # a dependency is down: next round
                log.warning("analytics: keeping the rollups failed: %s", exc)
            except Exception:  # a report bug must not stop the loop or the bot
                log.exception("analytics: keeping the rollups failed")
            await asyncio.sleep(self._interval_s)
