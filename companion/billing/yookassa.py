"""YooKassa API v3 through the official `yookassa` SDK: the `YooKassaGateway` port.

The SDK is synchronous (`requests`), so each call runs in this client's own small thread pool
(off the event loop, and never starving the loop's default executor). What the SDK gives: the
HTTP Basic credentials and its `YM-User-Agent` header (`ApiClient.prepare_request_headers`),
its session with its retry policy for YooKassa's "202, still processing" answers
(`ApiClient.get_session`), its notification models and IP check (see `webhook.py`).

What is ours on top, each for a measured reason (see docs/billing.md, "YooKassa SDK"):
- Per-instance settings. The SDK keeps shop id, secret key and API URL in class attributes of
  `yookassa.Configuration` (one shop and URL per process); `_ShopClient` takes them per
  instance, so the bot, the CLI and tests with their own emulator never overwrite each other.
- A request timeout (`billing.yookassa_timeout_s`): the SDK's requests have none, so a stalled
  connection would hold a thread for ever.
- Transient failures (network, timeouts, 429, 5xx) are retried a couple of times with the *same*
  idempotence key, which YooKassa guarantees not to execute twice (keys live 24 h); the SDK
  retries only 202. Its `request()` turns a connection error into an AttributeError (it reads
  `e.response.status_code` of None), so requests are sent with its session directly.
- The request body is sent exactly as the ledger stored it (a dict, not re-serialised by the
  SDK's request models, which also add `metadata.cms_name`), so a repeated request under the
  same key is byte-for-byte the first one. Answers are read into `yookassa_models` (Decimal
  amounts, which the ledger's checks compare exactly).

Neither the shop id nor the secret key is ever put in a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import requests
from yookassa.client import ApiClient
from yookassa.domain.common import UserAgent

from companion.billing.yookassa_models import (
    Amount,
    CancellationDetails,
    Confirmation,
    PaymentMethod,
    YooKassaError,
    YooKassaNotFoundError,
    YooKassaRequestError,
    YooKassaUnavailableError,
    YooPayment,
    YooRefund,
    parse,
)
from companion.config import BillingSettings

log = logging.getLogger(__name__)

__all__ = [
    "Amount",
    "CancellationDetails",
    "Confirmation",
    "PaymentMethod",
    "YooKassaClient",
    "YooKassaError",
    "YooKassaNotFoundError",
    "YooKassaRequestError",
    "YooKassaUnavailableError",
    "YooPayment",
    "YooRefund",
]

# Threads for SDK calls: enough for a burst of notifications, each a short HTTP request.
_THREADS = 8


class _ShopClient(ApiClient):  # type: ignore[misc]
    """The SDK's API client for one shop, configured per instance (see the module docstring)."""

    def __init__(self, settings: BillingSettings) -> None:
        # Not ApiClient.__init__: it reads the process-wide `yookassa.Configuration`.
        assert settings.yookassa_shop_id is not None and settings.yookassa_secret_key is not None
        self.endpoint = settings.yookassa_api_url.rstrip("/")
        self.shop_id = settings.yookassa_shop_id
        self.shop_password = settings.yookassa_secret_key.get_secret_value()
        self.auth_token = None
        self.timeout = 1800  # the SDK's back-off (ms) between its 202 retries
        self.max_attempts = 3  # the SDK's 202 retries
        self.user_agent = UserAgent()
        self.request_timeout = settings.yookassa_timeout_s

    def send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        idempotence_key: str | None,
        query: dict[str, str] | None,
    ) -> tuple[int, dict[str, Any], str]:
        """One HTTP request (blocking): status, JSON body ({} when not JSON), reason."""
        headers = {"Accept": "application/json"}
        if idempotence_key is not None:
            headers["Idempotence-Key"] = idempotence_key
        session = self.get_session()
        try:
            response = session.request(
                method,
                self.endpoint + path,
                params=query,
                json=body,
                headers=self.prepare_request_headers(headers),
                timeout=self.request_timeout,
            )
        finally:
            session.close()
        try:
            data = response.json()
        except ValueError:
            data = {}
        return response.status_code, data if isinstance(data, dict) else {}, response.reason or ""


class YooKassaClient:
    def __init__(
        self,
        settings: BillingSettings,
        *,
        retries: int = 2,
        retry_delay_s: float = 0.5,
    ) -> None:
        if not settings.yookassa_enabled:
            raise ValueError("YooKassa needs billing.yookassa_shop_id and yookassa_secret_key")
        self._client = _ShopClient(settings)
        self._retries = retries
        self._retry_delay_s = retry_delay_s
        self._threads: ThreadPoolExecutor | None = None

    async def close(self) -> None:
        if self._threads is not None:
            # Calls in flight finish in their threads (their keys make a repeat harmless).
            self._threads.shutdown(wait=False)
            self._threads = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(_THREADS, thread_name_prefix="yookassa")
        return self._threads

    async def create_payment(self, body: dict[str, Any], idempotence_key: str) -> YooPayment:
        data = await self._request("POST", "/payments", body, idempotence_key)
        return parse(YooPayment, data)

    async def get_payment(self, payment_id: str) -> YooPayment:
        data = await self._request("GET", f"/payments/{payment_id}")
        return parse(YooPayment, data)

    async def capture_payment(
        self, payment_id: str, amount: Amount, idempotence_key: str
    ) -> YooPayment:
        body = {"amount": amount.as_json()}
        data = await self._request("POST", f"/payments/{payment_id}/capture", body, idempotence_key)
        return parse(YooPayment, data)

    async def cancel_payment(self, payment_id: str, idempotence_key: str) -> YooPayment:
        data = await self._request("POST", f"/payments/{payment_id}/cancel", {}, idempotence_key)
        return parse(YooPayment, data)

    async def create_refund(
        self, payment_id: str, amount: Amount, idempotence_key: str, description: str = ""
    ) -> YooRefund:
        body: dict[str, Any] = {"payment_id": payment_id, "amount": amount.as_json()}
        if description:
            body["description"] = description
        data = await self._request("POST", "/refunds", body, idempotence_key)
        return parse(YooRefund, data)

    async def get_refund(self, refund_id: str) -> YooRefund:
        data = await self._request("GET", f"/refunds/{refund_id}")
        return parse(YooRefund, data)

    async def list_refunds(self, payment_id: str) -> list[YooRefund]:
        """Every refund of one payment (`GET /refunds?payment_id=`, following `next_cursor`)."""
        refunds: list[YooRefund] = []
        cursor: str | None = None
        for _ in range(100):  # 100 pages of 100: far more refunds than one payment can have
            params = {"payment_id": payment_id, "limit": "100"}
            if cursor:
                params["cursor"] = cursor
            data = await self._request("GET", "/refunds", query=params)
            items = data.get("items")
            if not isinstance(items, list):
                raise YooKassaError("unexpected YooKassa answer: a refund list without items")
            refunds.extend(parse(YooRefund, item) for item in items if isinstance(item, dict))
            next_cursor = data.get("next_cursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                break
            cursor = next_cursor
        return refunds

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        idempotence_key: str | None = None,
        *,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        call = partial(self._client.send, method, path, body, idempotence_key, query)
        last_error: YooKassaError | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._retry_delay_s * attempt)
            try:
                status, payload, reason = await loop.run_in_executor(self._executor(), call)
            except requests.RequestException as exc:
                # Unreachable, timed out, or the SDK's 202 retries ran out: try again later.
                last_error = YooKassaUnavailableError(
                    f"YooKassa unreachable for {method} {path}: {type(exc).__name__}"
                )
            else:
                if status == 200:
                    return payload
                code = str(payload.get("code", "unknown"))
                description = str(payload.get("description", reason))
                if status == 429 or status >= 500:
                    last_error = YooKassaUnavailableError(
                        f"YooKassa answered {status} to {method} {path}"
                    )
                elif status == 404:
                    raise YooKassaNotFoundError(status, code, description)
                else:
                    raise YooKassaRequestError(status, code, description)
            log.warning("%s (attempt %d)", last_error, attempt + 1)
        assert last_error is not None
        raise last_error
