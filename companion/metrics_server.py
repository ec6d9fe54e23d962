"""``GET /metrics`` (Prometheus text format) on its own port, `metrics_port`.

A separate listener from the webhook: the webhook port is public behind the proxy, metrics
are not (Caddy forwards only /telegram, /yookassa and /legal; Prometheus scrapes this port on
the internal network). Each worker process serves its own registry; Prometheus adds them up.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

_REGISTRY = web.AppKey("registry", CollectorRegistry)


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_app(registry: CollectorRegistry) -> web.Application:
    app = web.Application()
    app[_REGISTRY] = registry
    app.router.add_get("/metrics", _metrics)
    return app


@asynccontextmanager
async def serving_metrics(
    registry: CollectorRegistry, port: int | None, host: str = "0.0.0.0"
) -> AsyncIterator[None]:
    """Serve /metrics while the block runs; nothing when `port` is None (metrics off)."""
    if port is None:
        yield
        return
    runner = web.AppRunner(metrics_app(registry), access_log=None)
    await runner.setup()
    # No reuse_port (unlike the webhook): a second worker on the same port would answer some
    # scrapes with its own counters. One worker per container or pod, each with its address.
    await web.TCPSite(runner, host, port).start()
    log.info("metrics on %s:%s/metrics", host, port)
    try:
        yield
    finally:
        await runner.cleanup()
