"""YooKassa API objects and errors as billing sees them (provider-neutral of the HTTP client).

Amounts are `Decimal`, so the ledger's checks compare exact money. Error messages are safe to
log: they never hold credentials.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

M = TypeVar("M", bound=BaseModel)


class YooKassaError(Exception):
    """Base for YooKassa failures; messages are safe to log (no credentials)."""


class YooKassaUnavailableError(YooKassaError):
    """YooKassa could not be reached or answered 5xx/429: try again later."""


class YooKassaRequestError(YooKassaError):
    """YooKassa refused the request (4xx); `code` is its error code."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"YooKassa refused the request ({status} {code}): {description}")
        self.status = status
        self.code = code
        self.description = description


class YooKassaNotFoundError(YooKassaRequestError):
    pass


class Amount(BaseModel):
    value: Decimal
    currency: str

    def as_json(self) -> dict[str, str]:
        return {"value": f"{self.value:.2f}", "currency": self.currency}


class PaymentMethod(BaseModel):
    type: str
    id: str
    saved: bool = False
    title: str | None = None


class Confirmation(BaseModel):
    type: str
    confirmation_url: str | None = None
    return_url: str | None = None


class CancellationDetails(BaseModel):
    party: str
    reason: str


class YooPayment(BaseModel):
    id: str
    status: str  # pending | waiting_for_capture | succeeded | canceled
    amount: Amount
    paid: bool = False
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    payment_method: PaymentMethod | None = None
    confirmation: Confirmation | None = None
    cancellation_details: CancellationDetails | None = None
    created_at: datetime | None = None
    captured_at: datetime | None = None
    test: bool = False
    # Present once the payment has succeeded refunds: their sum.
    refunded_amount: Amount | None = None


class YooRefund(BaseModel):
    id: str
    payment_id: str
    status: str  # pending | succeeded | canceled
    amount: Amount
    created_at: datetime | None = None


def parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise YooKassaError(f"unexpected YooKassa answer: {exc.errors()[0]['msg']}") from exc
