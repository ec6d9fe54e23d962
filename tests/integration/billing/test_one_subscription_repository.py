"""One repository writes the `subscriptions` collection, and every write keeps the version
check and the keys of the changes applied (the guard of "credited once")."""

from __future__ import annotations

from datetime import datetime, timedelta

from companion.domain.models import Subscription
from companion.domain.models import SubscriptionStatus as S
from companion.storage import collections as c
from companion.storage.subscriptions import SubscriptionRepository


def _extend(now: datetime, days: int):
    def decide(current: Subscription, _version: int) -> Subscription:
        return Subscription(
            user_id=current.user_id,
            plan_id="pro_month",
            status=S.ACTIVE,
            current_period_end=(current.current_period_end or now) + timedelta(days=days),
        )

    return decide


async def test_a_whole_document_save_keeps_the_keys_that_stop_a_second_credit(billing):
    key = "payment:yookassa:pay-1"
    first = await billing.store.apply(7, key, "paid", _extend(billing.clock.now, 30))
    assert first.applied
    # The crash window `apply` guards: the subscription was written, its audit record was not.
    await billing.db[c.SUBSCRIPTION_TRANSITIONS].delete_one({"_id": key})
    # A tool (or a fixture) saves the subscription as a whole meanwhile.
    await SubscriptionRepository(billing.db).save(first.after)
    again = await billing.store.apply(7, key, "paid", _extend(billing.clock.now, 30))
    assert not again.applied
    stored = await billing.store.get(7)
    assert stored.current_period_end == first.after.current_period_end  # one period, not two


async def test_a_save_never_overwrites_a_change_it_did_not_see(billing):
    repository = SubscriptionRepository(billing.db)
    sub = Subscription(user_id=8, plan_id="pro_week", status=S.ACTIVE)
    await repository.save(sub)
    document = await billing.db[c.SUBSCRIPTIONS].find_one({"_id": 8})
    assert document["version"] == 1
    await repository.save(sub.model_copy(update={"status": S.CANCELLED}))
    document = await billing.db[c.SUBSCRIPTIONS].find_one({"_id": 8})
    assert document["version"] == 2 and document["status"] == "cancelled"
