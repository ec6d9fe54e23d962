"""Liveness and readiness endpoints for a worker's web server.

``GET /healthz`` is liveness: the process serves HTTP (restart it when this fails).
``GET /readyz`` is readiness: every dependency answers a ping within a short timeout; 503 names
the ones that do not, e.g. ``{"ready": false, "checks": {"database": false, "redis": true,
"llm": true}}``. Results are cached for `cache_s`, so a load balancer polling every worker
often costs the dependencies little.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[object]]


class Readiness:
    def __init__(
        self, checks: Mapping[str, Check], *, timeout_s: float = 1.0, cache_s: float = 1.5
    ) -> None:
        self._checks = dict(checks)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._cached: tuple[float, dict[str, bool]] | None = None
        self._running: asyncio.Future[dict[str, bool]] | None = None

    async def status(self) -> dict[str, bool]:
        """Each dependency's state now (or as of at most `cache_s` ago)."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self._cache_s:
            return self._cached[1]
        if self._running is None:
            # Concurrent requests share one round of pings.
            self._running = asyncio.ensure_future(self._probe())
        running = self._running
        try:
            return await asyncio.shield(running)
        finally:
            if running.done() and self._running is running:
                self._running = None

    async def _probe(self) -> dict[str, bool]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._one(name) for name in names))
        status = dict(zip(names, results, strict=True))
        self._cached = (time.monotonic(), status)
        return status

    async def _one(self, name: str) -> bool:
        try:
            result = await asyncio.wait_for(self._checks[name](), self._timeout_s)
        except Exception as exc:  # a check that fails in any way means "not ready"
            log.warning("readiness: %s is down (%s)", name, type(exc).__name__)
            return False
        return result is not False

    async def readyz(self, request: web.Request) -> web.Response:
        status = await self.status()
        ready = all(status.values())
        return web.json_response({"ready": ready, "checks": status}, status=200 if ready else 503)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def add_health_routes(app: web.Application, readiness: Readiness | None) -> None:
    """``/healthz`` always; ``/readyz`` when there is something to check."""
    app.router.add_get("/healthz", _healthz)
    if readiness is not None:
        app.router.add_get("/readyz", readiness.readyz)


def service_checks(database: Any, redis: Any, llm: Any) -> dict[str, Check]:
    """Pings for the composition root's database, Redis and chat model.

    The model is checked by listing the served models where the backend is a server (vLLM);
    an in-process model is as alive as the worker."""
    checks: dict[str, Check] = {}
    if database is not None:

        async def database_up() -> bool:
            return bool(await database.ping(timeout_s=1.0))

        checks["database"] = database_up
    if redis is not None:
        checks["redis"] = redis.ping
    served = getattr(llm, "served_models", None)
    if callable(served):
        checks["llm"] = served
    return checks
