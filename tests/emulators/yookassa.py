"""A YooKassa API v3 emulator (aiohttp) that behaves like the documented API for our calls.

Server side: Basic auth, `Idempotence-Key` semantics (same key + same body: the same answer;
same key + another body: 400 invalid_request), POST/GET payments, capture, cancel, refunds (and
the refund list, `GET /refunds?payment_id=&limit=&cursor=`, with `next_cursor` paging), and
error bodies shaped like YooKassa's (`{"type": "error", "code": ..., "description": ...}`).

Test side: `pay` / `decline` a payment as the user on the redirect page would, choose how saved
methods are charged (`saved_method_outcome`), make the API fail (`fail_next`), and `notify` a
webhook exactly as YooKassa does, from a chosen source address (the client socket is bound to
that loopback address, so the server sees it as the peer).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

_BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("body", dict)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def _error(status: int, code: str, description: str, parameter: str | None = None) -> web.Response:
    body: dict[str, Any] = {
        "type": "error",
        "id": str(uuid.uuid4()),
        "code": code,
        "description": description,
    }
    if parameter:
        body["parameter"] = parameter
    return web.json_response(body, status=status)


@dataclass
class RecordedRequest:
    method: str
    path: str
    idempotence_key: str | None
    body: dict[str, Any] | None


@dataclass
class YooKassaEmulator:
    shop_id: str = "123456"
    secret_key: str = "test_emulator_secret_key_9f8e7d"
    host: str = "127.0.0.1"
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    # payment_method_id -> "succeeded" | "canceled" for charges of saved methods.
    saved_method_outcome: dict[str, str] = field(default_factory=dict)
    _idempotence: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = field(
        default_factory=dict
    )
    _fail_next: list[int] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    async def __aenter__(self) -> YooKassaEmulator:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v3/payments", self._create_payment)
        app.router.add_get("/v3/payments/{id}", self._get_payment)
        app.router.add_post("/v3/payments/{id}/capture", self._capture)
        app.router.add_post("/v3/payments/{id}/cancel", self._cancel)
        app.router.add_post("/v3/refunds", self._create_refund)
        app.router.add_get("/v3/refunds", self._list_refunds)
        app.router.add_get("/v3/refunds/{id}", self._get_refund)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v3"

    # -- test side ----------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next `count` API calls answer `status` (500: YooKassa's "result unknown")."""
        self._fail_next.extend([status] * count)

    def pay(self, payment_id: str, *, method_id: str | None = None) -> dict[str, Any]:
        """The user pays on the redirect page (capture=true: straight to succeeded)."""
        payment = self.payments[payment_id]
        assert payment["status"] == "pending", payment["status"]
        save = payment.pop("_save_payment_method", False)
        payment["payment_method"] = {
            "type": "bank_card",
            "id": method_id or str(uuid.uuid4()),
            "saved": bool(save),
            "title": "Bank card *4444",
        }
        if payment.pop("_capture", True):
            self._succeed(payment)
        else:
            payment["status"] = "waiting_for_capture"
            payment["paid"] = True
        return payment

    def decline(self, payment_id: str, reason: str = "expired_on_confirmation") -> dict[str, Any]:
        payment = self.payments[payment_id]
        payment["status"] = "canceled"
        payment["cancellation_details"] = {"party": "yoo_money", "reason": reason}
        return payment

    def notification(self, event: str, object_: dict[str, Any]) -> dict[str, Any]:
        public = {key: value for key, value in object_.items() if not key.startswith("_")}
        return {"type": "notification", "event": event, "object": public}

    async def notify(
        self,
        url: str,
        event: str,
        object_: dict[str, Any],
        *,
        source: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
    ) -> int:
        """POST a notification to `url` from the loopback address `source`; returns the status."""
        body = self.notification(event, object_)
        connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(url, json=body, headers=headers or {}) as response,
        ):
            await response.read()
            return response.status

    # -- server side --------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._fail_next:
            status = self._fail_next.pop(0)
            return _error(status, "internal_server_error", "emulated failure")
        expected = base64.b64encode(f"{self.shop_id}:{self.secret_key}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return _error(401, "invalid_credentials", "Login or password is invalid")
        body: dict[str, Any] | None = None
        raw = await request.read()
        if request.method == "POST":
            if request.content_type != "application/json":
                return web.Response(status=415)
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError:
                return _error(400, "invalid_request", "Invalid JSON")
            if not isinstance(parsed, dict):
                return _error(400, "invalid_request", "Invalid JSON")
            body = parsed
        key = request.headers.get("Idempotence-Key")
        self.requests.append(RecordedRequest(request.method, request.path, key, body))
        if request.method != "POST":
            response: web.StreamResponse = await handler(request)
            return response
        if not key:
            return _error(400, "invalid_request", "Idempotence key is required", "Idempotence-Key")
        digest = hashlib.sha256(raw).hexdigest()
        stored = self._idempotence.get((request.path, key))
        if stored is not None:
            if stored[0] != digest:
                return _error(
                    400,
                    "invalid_request",
                    "Idempotence key duplicated with other request data",
                    "Idempotence-Key",
                )
            return web.json_response(stored[2], status=stored[1])
        request[_BODY] = body or {}
        result = await handler(request)
        assert isinstance(result, web.Response) and result.text is not None
        if result.status < 500:
            self._idempotence[(request.path, key)] = (
                digest,
                result.status,
                json.loads(result.text),
            )
        return result

    async def _create_payment(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = request[_BODY]
        amount = body.get("amount")
        if not isinstance(amount, dict) or "value" not in amount or "currency" not in amount:
            return _error(400, "invalid_request", "amount is required", "amount")
        try:
            value = Decimal(str(amount["value"]))
        except ArithmeticError:
            return _error(400, "invalid_request", "invalid amount", "amount.value")
        if value <= 0:
            return _error(400, "invalid_request", "amount must be positive", "amount.value")
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict) or len(metadata) > 16:
            return _error(400, "invalid_request", "invalid metadata", "metadata")
        if len(str(body.get("description", ""))) > 128:
            return _error(400, "invalid_request", "description too long", "description")
        receipt = body.get("receipt")
        if receipt is not None:
            customer = receipt.get("customer", {})
            if not (customer.get("email") or customer.get("phone")) or not receipt.get("items"):
                return _error(400, "invalid_request", "receipt needs customer and items", "receipt")
        payment_id = f"{uuid.uuid4().hex[:8]}-000f-5000-a000-{uuid.uuid4().hex[:12]}"
        payment: dict[str, Any] = {
            "id": payment_id,
            "status": "pending",
            "amount": {"value": f"{value:.2f}", "currency": amount["currency"]},
            "description": body.get("description"),
            "recipient": {"account_id": self.shop_id, "gateway_id": "1"},
            "created_at": _now(),
            "test": True,
            "paid": False,
            "refundable": False,
            "metadata": {str(k): str(v) for k, v in metadata.items()},
            "_capture": bool(body.get("capture", False)),
            "_save_payment_method": bool(body.get("save_payment_method", False)),
        }
        method_id = body.get("payment_method_id")
        if method_id:
            outcome = self.saved_method_outcome.get(str(method_id), "succeeded")
            payment["payment_method"] = {
                "type": "bank_card",
                "id": method_id,
                "saved": True,
                "title": "Bank card *4444",
            }
            if outcome == "succeeded":
                self._succeed(payment)
            else:
                payment["status"] = "canceled"
                payment["cancellation_details"] = {"party": "payment_network", "reason": outcome}
        else:
            confirmation = body.get("confirmation")
            if not isinstance(confirmation, dict) or confirmation.get("type") != "redirect":
                return _error(400, "invalid_request", "confirmation is required", "confirmation")
            payment["confirmation"] = {
                "type": "redirect",
                "return_url": confirmation.get("return_url"),
                "confirmation_url": f"http://{self.host}:{self.port}/checkout/{payment_id}",
            }
        self.payments[payment_id] = payment
        return web.json_response(self._public(payment))

    def _succeed(self, payment: dict[str, Any]) -> None:
        payment["status"] = "succeeded"
        payment["paid"] = True
        payment["refundable"] = True
        payment["captured_at"] = _now()
        payment["income_amount"] = payment["amount"]

    def _public(self, payment: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in payment.items() if not key.startswith("_")}

    async def _get_payment(self, request: web.Request) -> web.Response:
        payment = self.payments.get(request.match_info["id"])
        if payment is None:
            return _error(404, "not_found", "Payment not found")
        return web.json_response(self._public(payment))

    async def _capture(self, request: web.Request) -> web.Response:
        payment = self.payments.get(request.match_info["id"])
        if payment is None:
            return _error(404, "not_found", "Payment not found")
        if payment["status"] != "waiting_for_capture":
            return _error(400, "invalid_request", "Payment is not waiting for capture")
        self._succeed(payment)
        return web.json_response(self._public(payment))

    async def _cancel(self, request: web.Request) -> web.Response:
        payment = self.payments.get(request.match_info["id"])
        if payment is None:
            return _error(404, "not_found", "Payment not found")
        if payment["status"] != "waiting_for_capture":
            return _error(400, "invalid_request", "Payment cannot be canceled")
        payment["status"] = "canceled"
        payment["cancellation_details"] = {"party": "merchant", "reason": "canceled_by_merchant"}
        return web.json_response(self._public(payment))

    async def _create_refund(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = request[_BODY]
        payment = self.payments.get(str(body.get("payment_id")))
        if payment is None:
            return _error(404, "not_found", "Payment not found", "payment_id")
        if payment["status"] != "succeeded":
            return _error(400, "invalid_request", "Payment is not succeeded", "payment_id")
        amount = body.get("amount") or {}
        value = Decimal(str(amount.get("value", "0")))
        refunded = Decimal(payment.get("refunded_amount", {}).get("value", "0"))
        if value <= 0 or value + refunded > Decimal(payment["amount"]["value"]):
            return _error(400, "invalid_request", "Refund amount is too big", "amount")
        refund = {
            "id": f"{uuid.uuid4().hex[:8]}-0015-5000-9000-{uuid.uuid4().hex[:12]}",
            "payment_id": payment["id"],
            "status": "succeeded",
            "created_at": _now(),
            "amount": {"value": f"{value:.2f}", "currency": payment["amount"]["currency"]},
            "description": body.get("description"),
        }
        payment["refunded_amount"] = {
            "value": f"{refunded + value:.2f}",
            "currency": payment["amount"]["currency"],
        }
        self.refunds[refund["id"]] = refund
        return web.json_response(refund)

    async def _list_refunds(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = int(query.get("limit", "10"))
            start = int(query.get("cursor", "0"))
        except ValueError:
            return _error(400, "invalid_request", "invalid limit or cursor")
        if not 1 <= limit <= 100 or start < 0:
            return _error(400, "invalid_request", "invalid limit or cursor", "limit")
        refunds = [
            refund
            for refund in self.refunds.values()
            if "payment_id" not in query or refund["payment_id"] == query["payment_id"]
        ]
        body: dict[str, Any] = {"type": "list", "items": refunds[start : start + limit]}
        if start + limit < len(refunds):
            body["next_cursor"] = str(start + limit)
        return web.json_response(body)

    async def _get_refund(self, request: web.Request) -> web.Response:
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            return _error(404, "not_found", "Refund not found")
        return web.json_response(refund)
