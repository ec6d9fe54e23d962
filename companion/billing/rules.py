"""The subscription state machine and every change billing makes to a subscription, as pure
functions: no store, no clock, no provider. The use cases pass one of these `Decide` functions to
`Subscriptions.apply`, which applies it once per key with a compare-and-set on the document's
version (see `companion.billing.subscriptions`).

States (`SubscriptionStatus`): none → pending → active → (renewed: active) → past_due (grace
period) → expired; active → cancelled (at period end) → expired; any paid state → refunded.
`TRANSITIONS` lists every allowed move; anything else raises `InvalidTransitionError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from companion.domain.models import Subscription, SubscriptionStatus

# The repository's types (a keyed change and its outcome), named here with the rules.
from companion.storage.subscriptions import Change as Change
from companion.storage.subscriptions import ConcurrentUpdateError as ConcurrentUpdateError
from companion.storage.subscriptions import Decide as Decide
from companion.storage.subscriptions import empty_subscription as empty_subscription

S = SubscriptionStatus

TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    S.NONE: frozenset({S.PENDING, S.ACTIVE}),
    S.PENDING: frozenset({S.PENDING, S.ACTIVE, S.NONE, S.EXPIRED}),
    S.ACTIVE: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELLED, S.EXPIRED, S.REFUNDED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.CANCELLED, S.EXPIRED, S.REFUNDED}),
    S.CANCELLED: frozenset({S.ACTIVE, S.EXPIRED, S.REFUNDED}),
    S.EXPIRED: frozenset({S.PENDING, S.ACTIVE, S.REFUNDED}),
    S.REFUNDED: frozenset({S.PENDING, S.ACTIVE}),
}


class InvalidTransitionError(ValueError):
    def __init__(self, before: SubscriptionStatus, after: SubscriptionStatus) -> None:
        super().__init__(f"subscription cannot go from {before.value} to {after.value}")
        self.before = before
        self.after = after


def check_transition(before: SubscriptionStatus, after: SubscriptionStatus) -> None:
    if after not in TRANSITIONS[before]:
        raise InvalidTransitionError(before, after)


def pro_until(subscription: Subscription) -> datetime | None:
    """When PRO ends: the grace end while past due, else the period end."""
    if subscription.status is S.PAST_DUE:
        return subscription.grace_until
    return subscription.current_period_end


# -- the changes ------------------------------------------------------------------------------


def pending(plan_id: str) -> Decide:
    """A checkout was opened: pending, unless something runs already."""

    def decide(current: Subscription, _version: int) -> Subscription | None:
        if current.status not in (S.NONE, S.EXPIRED, S.REFUNDED):
            return None  # a running subscription stays as it is while a payment is open
        return current.model_copy(update={"status": S.PENDING, "plan_id": plan_id})

    return decide


def payment_canceled() -> Decide:
    """The only open checkout failed: back to none (or expired when a period ran before)."""

    def decide(current: Subscription, _version: int) -> Subscription | None:
        if current.status is not S.PENDING:
            return None
        back = S.EXPIRED if current.current_period_end is not None else S.NONE
        return current.model_copy(update={"status": back})

    return decide


def renewal_failed(grace: timedelta) -> Decide:
    """A renewal charge failed: past due until the grace period ends (PRO kept meanwhile)."""

    def decide(current: Subscription, _version: int) -> Subscription | None:
        if current.status is not S.ACTIVE or current.current_period_end is None:
            return None
        return current.model_copy(
            update={"status": S.PAST_DUE, "grace_until": current.current_period_end + grace}
        )

    return decide


def revoke(now: datetime) -> Decide:
    """A payment refunded in full: PRO ends now."""

    def decide(current: Subscription, _version: int) -> Subscription | None:
        if current.status not in (S.ACTIVE, S.PAST_DUE, S.CANCELLED, S.EXPIRED):
            return None
        return current.model_copy(
            update={
                "status": S.REFUNDED,
                "current_period_end": now,
                "grace_until": None,
                "auto_renew": False,
            }
        )

    return decide


def cancel() -> Decide:
    """Renewal off; PRO stays until the period (or the rest of the grace period) ends."""

    def decide(current: Subscription, _version: int) -> Subscription | None:
        if current.status not in (S.ACTIVE, S.PAST_DUE) or not current.auto_renew:
            return None
        end = current.current_period_end
        if current.status is S.PAST_DUE:
            end = current.grace_until  # keep the rest of the grace period
        return current.model_copy(
            update={
                "status": S.CANCELLED,
                "auto_renew": False,
                "current_period_end": end,
                "grace_until": None,
            }
        )

    return decide


def resume() -> Decide:
    def decide(current: Subscription, _version: int) -> Subscription | None:
        if current.status is not S.CANCELLED:
            return None
        return current.model_copy(update={"status": S.ACTIVE, "auto_renew": True})

    return decide


def grant(user_id: int, plan_id: str, days: int, now: datetime) -> Decide:
    """PRO for `days` more, added to a running period (whose renewal is kept)."""

    def decide(current: Subscription, _version: int) -> Subscription:
        end = current.current_period_end
        running = current.grants_pro(now) and end is not None
        base = max(now, end) if running and end is not None else now
        keep = running and current.status in (S.ACTIVE, S.CANCELLED)
        return Subscription(
            user_id=user_id,
            plan_id=plan_id,
            status=S.ACTIVE if not keep else current.status,
            current_period_end=base + timedelta(days=days),
            auto_renew=current.auto_renew if keep else False,
            provider=current.provider if keep else "grant",
            payment_method_id=current.payment_method_id if keep else None,
        )

    return decide


@dataclass(frozen=True, slots=True)
class Paid:
    """What a verified payment buys (from its ledger record)."""

    user_id: int
    plan_id: str
    provider: str
    period_days: int
    renews: bool  # the payment starts or continues a renewing subscription
    payment_method_id: str | None
    # Telegram says when a Stars subscription period ends.
    period_end: datetime | None = None


def credit(paid: Paid, now: datetime) -> Decide:
    """Extend the subscription by the period paid for."""

    def decide(current: Subscription, _version: int) -> Subscription:
        base = now
        if current.current_period_end is not None and current.status in (
            S.ACTIVE,
            S.CANCELLED,
            S.PAST_DUE,
        ):
            base = max(now, current.current_period_end)
        end = base + timedelta(days=paid.period_days)
        if paid.period_end is not None:
            end = max(end - timedelta(days=paid.period_days), paid.period_end)
        renewal = (paid.renews, paid.provider, paid.payment_method_id)
        if (
            current.auto_renew
            and current.grants_pro(now)
            and (not paid.renews or current.provider != paid.provider)
        ):
            # A one-off payment (or one through the other provider) on top of a renewing
            # subscription extends it but keeps its renewal: otherwise a Stars subscription
            # would keep charging with no way to cancel it from the bot.
            renewal = (True, current.provider or "", current.payment_method_id)
        return Subscription(
            user_id=paid.user_id,
            plan_id=paid.plan_id,
            status=S.ACTIVE,
            current_period_end=end,
            grace_until=None,
            auto_renew=renewal[0],
            provider=renewal[1],
            payment_method_id=renewal[2] if renewal[0] else None,
        )

    return decide


def expire(now: datetime, grace: timedelta) -> Decide:
    """End what has run out; a renewing period that ended unrenewed goes past due first."""

    def decide(current: Subscription, _version: int) -> Subscription | None:
        if current.status is S.PAST_DUE:
            if current.grace_until is None or current.grace_until > now:
                return None
            return current.model_copy(update={"status": S.EXPIRED, "auto_renew": False})
        if current.status not in (S.ACTIVE, S.CANCELLED):
            return None
        if current.current_period_end is None or current.current_period_end > now:
            return None
        if current.status is S.ACTIVE and current.auto_renew:
            return current.model_copy(
                update={"status": S.PAST_DUE, "grace_until": current.current_period_end + grace}
            )
        return current.model_copy(update={"status": S.EXPIRED, "auto_renew": False})

    return decide
