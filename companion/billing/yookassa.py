"""YooKassa API v3 over HTTP (aiohttp): payments, refunds, with an idempotence key on every POST.

Reference: https://yookassa.ru/developers/api. Authentication is HTTP Basic with the shop id
and the secret key; neither is ever put in a log line or an exception message. Transient
failures (network, timeouts, 429, 5xx) are retried a couple of times with the *same*
idempotence key, which YooKassa guarantees not to execute twice (keys live 24 h).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from pydantic import BaseModel

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

M = TypeVar("M", bound=BaseModel)


class YooKassaClient:
    def __init__(
        self,
        settings: BillingSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        retries: int = 2,
        retry_delay_s: float = 0.5,
    ) -> None:
        if not settings.yookassa_enabled:
            raise ValueError("YooKassa needs billing.yookassa_shop_id and yookassa_secret_key")
        assert settings.yookassa_shop_id is not None and settings.yookassa_secret_key is not None
        self._base = settings.yookassa_api_url.rstrip("/")
        secret = settings.yookassa_secret_key.get_secret_value()
        credentials = f"{settings.yookassa_shop_id}:{secret}"
        # Kept only as this header value; never logged, never part of an error message.
        self._authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        self._timeout = aiohttp.ClientTimeout(total=settings.yookassa_timeout_s)
        self._session = session
        self._own_session = session is None
        self._retries = retries
        self._retry_delay_s = retry_delay_s

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

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
            data = await self._request("GET", "/refunds?" + urlencode(params))
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
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json", "Authorization": self._authorization}
        if idempotence_key is not None:
            headers["Idempotence-Key"] = idempotence_key
        url = self._base + path
        last_error: YooKassaError | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._retry_delay_s * attempt)
            try:
                async with self._client().request(
                    method,
                    url,
                    json=body,
                    headers=headers,
                    timeout=self._timeout,
                ) as response:
                    payload = await _json(response)
                    if response.status == 200:
                        return payload
                    code = str(payload.get("code", "unknown"))
                    description = str(payload.get("description", response.reason or ""))
                    if response.status == 429 or response.status >= 500:
                        last_error = YooKassaUnavailableError(
                            f"YooKassa answered {response.status} to {method} {path}"
                        )
                    elif response.status == 404:
                        raise YooKassaNotFoundError(response.status, code, description)
                    else:
                        raise YooKassaRequestError(response.status, code, description)
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = YooKassaUnavailableError(
                    f"YooKassa unreachable for {method} {path}: {type(exc).__name__}"
                )
            log.warning("%s (attempt %d)", last_error, attempt + 1)
        assert last_error is not None
        raise last_error


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return data if isinstance(data, dict) else {}
