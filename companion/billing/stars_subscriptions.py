"""Which Telegram Stars subscriptions of a user may still renew, and stopping them.

Telegram charges a Stars subscription every 30 days until the bot (or the user) cancels it, and
only `editUserStarSubscription` with the subscription's first charge id stops it. The ledger
knows every one: each Stars payment of a subscription carries that first charge id as its
`payment_method_id` (the first payment's own charge id, or the one a renewal extends). A
subscription counts as live until a day after the end of the last period paid for, so one that
Telegram is renewing right now is not missed.

This is how "one renewing subscription per user" is kept even when two purchases race each
other, and how cancel and /forget stop every subscription, not only the one on the user's
subscription document.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from companion.billing.errors import StarsRefusedError
from companion.billing.ports import Ledger, StarsApi
from companion.billing.records import PaymentRecord, PaymentStatus, Provider

log = logging.getLogger(__name__)

# A renewal is charged at the end of the period; its news may come a little later.
_RENEWAL_SLACK = timedelta(days=1)
# More ledger rows than a user has Stars payments within one period, by far.
_RECENT_PAYMENTS = 100


def live_subscription_ids(records: Iterable[PaymentRecord], now: datetime) -> list[str]:
    """The first charge ids of the Stars subscriptions among `records` that may still renew,
    the most recently paid first."""
    ends: dict[str, datetime] = {}
    for record in records:
        if (
            record.provider is not Provider.STARS
            or record.status is not PaymentStatus.SUCCEEDED
            or not record.payment_method_id
        ):
            continue
        paid = record.paid_at or record.created_at
        end = record.renews_period_end or paid + timedelta(days=record.period_days)
        previous = ends.get(record.payment_method_id)
        ends[record.payment_method_id] = end if previous is None else max(previous, end)
    live = [(end, sid) for sid, end in ends.items() if end + _RENEWAL_SLACK > now]
    return [sid for _, sid in sorted(live, reverse=True)]


async def live_subscriptions(ledger: Ledger, user_id: int, now: datetime) -> list[str]:
    return live_subscription_ids(await ledger.for_user(user_id, limit=_RECENT_PAYMENTS), now)


async def cancel_subscriptions(
    api: StarsApi,
    ledger: Ledger,
    user_id: int,
    now: datetime,
    *,
    keep: str | None = None,
    skip: Iterable[str] = (),
) -> list[str]:
    """Cancel (``is_canceled=True``) every live Stars subscription of the user but `keep`
    and those in `skip` (already cancelled by the caller). One Telegram refuses as invalid is
    skipped; any other Bot API error propagates: the caller decides whether that stops it
    (erasure) or is only logged."""
    done = set(skip)
    cancelled: list[str] = []
    for subscription_id in await live_subscriptions(ledger, user_id, now):
        if subscription_id == keep or subscription_id in done:
            continue
        try:
            await api.edit_user_star_subscription(user_id, subscription_id, True)
        except StarsRefusedError as exc:
            # Not active at Telegram any more (expired, or cancelled by the user in Telegram):
            # nothing to stop, and refusing erasure over it would refuse it forever.
            log.warning("a Stars subscription could not be cancelled: %s", exc)
            continue
        done.add(subscription_id)
        cancelled.append(subscription_id)
        # Neither the charge id nor the user id: this runs while erasing, logs outlive it.
        log.info("a Stars subscription was cancelled")
    return cancelled
