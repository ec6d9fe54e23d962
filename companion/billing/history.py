"""A person's payments for the owner's console: the ledger's records as `PaymentLine`s.

The console (`companion.analytics.user_lookup`) reaches billing only through the
`companion.domain.ports.PaymentHistory` port; this is its implementation. Only what support
needs to answer "did I pay, and what happened to it?" leaves the ledger: no confirmation links,
request bodies, card tokens or receipt contacts.
"""

from __future__ import annotations

from companion.billing.ports import Ledger
from companion.billing.records import PaymentRecord, PaymentStatus
from companion.domain.ports import PaymentLine


class LedgerHistory:
    """Implements `companion.domain.ports.PaymentHistory`."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def payments_of(self, user_id: int, limit: int = 10) -> list[PaymentLine]:
        return [_line(record) for record in await self._ledger.for_user(user_id, limit=limit)]


def _line(record: PaymentRecord) -> PaymentLine:
    return PaymentLine(
        reference=record.id,
        provider=record.provider.value,
        plan_id=record.plan_id,
        kind=record.kind.value,
        amount=str(record.amount),
        currency=record.currency,
        status=record.status.value,
        created_at=record.created_at,
        paid_at=record.paid_at,
        refunded_amount=str(record.refunded_amount),
        refundable=record.status is PaymentStatus.SUCCEEDED and not record.fully_refunded,
    )
