"""YooKassa HTTP notifications, mounted in the bot's aiohttp app at `billing.webhook_path`.

Trust model: a notification is only a hint that something changed. It must come from one of
YooKassa's published address ranges (`billing.yookassa_allowed_ips`); behind a reverse proxy
the client address is taken from X-Forwarded-For only when `trust_forwarded_for` is on *and*
the direct peer is one of `trusted_proxies`. Then the payment (or refund) is re-read from the
API and the service acts on what the API says; the body's status, amount and metadata are never
used.

Answers: 200 once the resulting state is stored, and also for notifications that are not about
a payment of ours or that disagree with the API: YooKassa retries any other answer for 24 hours,
and a retry of those cannot succeed, so they are logged and acknowledged, with nothing granted.
403 for a forbidden source, 400 for a malformed body, 500 when YooKassa's API or our database
cannot be reached right now, so YooKassa delivers it again later.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pymongo.errors import PyMongoError
from yookassa.domain.common import SecurityHelper
from yookassa.domain.notification import WebhookNotificationFactory

from companion.billing.context import Outcome
from companion.billing.crediting import Crediting
from companion.billing.rules import ConcurrentUpdateError
from companion.billing.yookassa_models import YooKassaError, YooKassaRequestError
from companion.config import BillingSettings

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_BODY = 64 * 1024


class Notification(BaseModel):
    """The envelope every YooKassa notification has; the SDK's models then read it."""

    type: str
    event: str
    object: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notice:
    event: str
    object_id: object
    payment_id: object = None  # for refund.* events


def read_notification(raw: bytes) -> Notice:
    """Parse with the SDK's notification models (`WebhookNotificationFactory`). Raises
    ValidationError, ValueError or TypeError for a malformed body (answered 400)."""
    envelope = Notification.model_validate_json(raw)
    parsed = WebhookNotificationFactory().create(envelope.model_dump())
    obj = parsed.object
    payment_id = getattr(obj, "payment_id", None) if parsed.event.startswith("refund.") else None
    return Notice(parsed.event, getattr(obj, "id", None), payment_id)


class _ShopNetworks(SecurityHelper):  # type: ignore[misc]
    """The SDK's IP check over our configured ranges (`billing.yookassa_allowed_ips`; the SDK's
    own list is YooKassa's published one, which is also our default)."""

    def __init__(self, networks: Sequence[str]) -> None:
        super().__init__()
        self.YOOKASSA_NETWORKS = list(networks)


class SourceFilter:
    """Decides whether a request comes from YooKassa: the SDK's `SecurityHelper.is_ip_trusted`
    for the ranges, with our IPv4-mapped normalisation and trusted-proxy logic on top."""

    def __init__(self, settings: BillingSettings) -> None:
        self._allowed = _ShopNetworks(settings.yookassa_allowed_ips)
        self._proxies = _networks(settings.trusted_proxies)
        self._trust_forwarded = settings.trust_forwarded_for

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str | None:
        if peer is None:
            return None
        if self._trust_forwarded and forwarded_for and _within(peer, self._proxies):
            # The right-most address not added by our own proxies is the real client.
            hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
            for hop in reversed(hops):
                if not _within(hop, self._proxies):
                    return hop
            return hops[0] if hops else peer
        return peer

    def allowed(self, address: str | None) -> bool:
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # the SDK's netaddr would raise on it
        # A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6 (`::ffff:a.b.c.d`); they
        # are the same host as `a.b.c.d`, so they match IPv4 ranges (the IPv6 form still counts).
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        candidates = [str(ip)] + ([str(mapped)] if mapped is not None else [])
        return any(self._allowed.is_ip_trusted(candidate) for candidate in candidates)


def _networks(values: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(value, strict=False) for value in values]


def _within(address: str, networks: Sequence[IPNetwork]) -> bool:
    """For the trusted proxies (ours, not YooKassa's): IPv4-mapped peers count as IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any(ip in network or (mapped is not None and mapped in network) for network in networks)


class YooKassaWebhook:
    def __init__(self, crediting: Crediting, settings: BillingSettings) -> None:
        self._crediting = crediting
        self._sources = SourceFilter(settings)

    async def handle(self, request: web.Request) -> web.Response:
        address = self._sources.client_address(
            request.remote, request.headers.get("X-Forwarded-For")
        )
        if not self._sources.allowed(address):
            log.warning("YooKassa notification refused: source %s is not allowed", address)
            return web.Response(status=403, text="forbidden")
        if request.content_length is not None and request.content_length > _MAX_BODY:
            return web.Response(status=413, text="too large")
        try:
            raw = await request.read()
            if len(raw) > _MAX_BODY:
                return web.Response(status=413, text="too large")
            notification = read_notification(raw)
        except (ValidationError, ValueError, TypeError):
            log.warning("YooKassa notification refused: malformed body from %s", address)
            return web.Response(status=400, text="bad notification")
        try:
            outcome = await self._dispatch(notification)
        except (YooKassaError, PyMongoError, ConcurrentUpdateError) as exc:
            if isinstance(exc, YooKassaRequestError) and exc.status in (401, 403):
                log.error("YooKassa refused our credentials while handling a notification")
            else:
                # Exception type only: a database error can quote the document it was about.
                log.warning(
                    "YooKassa notification not handled yet (%s); it will be retried",
                    exc if isinstance(exc, YooKassaError) else type(exc).__name__,
                )
            return web.Response(status=500, text="retry later")
        except Exception as exc:  # a bug or an unreadable record: retried, never a traceback out
            log.error(
                "YooKassa notification %s failed (%s); answered 500, it will be retried",
                notification.event,
                type(exc).__name__,
            )
            return web.Response(status=500, text="retry later")
        return web.Response(status=200, text=outcome.value)

    async def _dispatch(self, notification: Notice) -> Outcome:
        event = notification.event
        object_id = notification.object_id
        if not isinstance(object_id, str) or not object_id or len(object_id) > 64:
            log.warning("YooKassa notification %s without a usable object id", event)
            return Outcome.UNKNOWN
        if event.startswith("payment."):
            outcome = await self._crediting.sync_yookassa_payment(object_id)
            claimed = event.removeprefix("payment.")
            if claimed == "succeeded" and outcome not in (Outcome.CREDITED, Outcome.ALREADY_DONE):
                log.warning(
                    "notification says payment %s succeeded; the API disagrees (%s)",
                    object_id,
                    outcome.value,
                )
        elif event == "refund.succeeded":
            payment_id = notification.payment_id
            if not isinstance(payment_id, str):
                return Outcome.UNKNOWN
            outcome = await self._crediting.sync_yookassa_refund(object_id, payment_id)
        else:
            log.info("YooKassa notification %s ignored", event)
            return Outcome.UNKNOWN
        log.info("YooKassa %s for %s: %s", event, object_id, outcome.value)
        return outcome


def setup_billing_routes(
    app: web.Application, crediting: Crediting, settings: BillingSettings
) -> None:
    """Mount the YooKassa notification endpoint at `billing.webhook_path`: a notification is a
    hint to re-read the payment from the API and credit it (`Crediting`)."""
    webhook = YooKassaWebhook(crediting, settings)
    app.router.add_post(settings.webhook_path, webhook.handle)
