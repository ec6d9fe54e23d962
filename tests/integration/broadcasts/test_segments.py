"""Segments against a hand-counted set of users, through the real stores on SecantusDB.

id  consent  lang  persona  subscription               last conversation    other
1   yes      en    anna     active, ends in 10 d       1 d ago
2   yes      ru    mark     -                          20 d ago
3   yes      en    -        past due, grace 2 d left   none (joined 60 d ago)
4   yes      ru    anna     cancelled, ends in 5 d     3 d ago
5   yes      en    anna     active, ended 1 d ago      40 and 35 d ago
6   no       en    anna     -                          -
7   yes      en    anna     active, ends in 10 d       1 d ago              blocked the bot
8   yes      ru    mark     -                          1 d ago              news off
9   yes      en    -        -                          none (joined 2 d ago)
10  yes      ru    mark     past due, grace ended      8 and 100 d ago
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from companion.broadcasts.models import CampaignStatus, Content, RecipientState, Segment
from companion.broadcasts.models import SegmentKind as K
from companion.broadcasts.segments import SegmentQueries
from companion.broadcasts.service import BroadcastService
from companion.broadcasts.store import CampaignStore
from companion.domain.models import Subscription, SubscriptionStatus, User, UserSettings
from companion.storage import collections as c
from companion.storage.indexes import ensure_indexes
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.users import UserRepository

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _user(uid: int, lang: str, persona: str | None, *, joined_days: int = 60, **extra: Any) -> User:
    return User(
        id=uid,
        language=lang,
        current_persona_id=persona,
        created_at=NOW - joined_days * DAY,
        consent_at=extra.pop("consent_at", NOW - joined_days * DAY),
        **extra,
    )


def _sub(uid: int, status: SubscriptionStatus, **fields: datetime) -> Subscription:
    return Subscription(user_id=uid, plan_id="pro_month", status=status, **fields)


@pytest.fixture
async def db(mongo_db: AsyncDatabase[dict[str, Any]]) -> AsyncDatabase[dict[str, Any]]:
    await ensure_indexes(mongo_db)
    users = UserRepository(mongo_db)
    for user in (
        _user(1, "en", "anna"),
        _user(2, "ru", "mark"),
        _user(3, "en", None),
        _user(4, "ru", "anna"),
        _user(5, "en", "anna"),
        _user(6, "en", "anna", consent_at=None),
        _user(7, "en", "anna", blocked_at=NOW - 2 * DAY),
        _user(8, "ru", "mark", settings=UserSettings(news=False)),
        _user(9, "en", None, joined_days=2),
        _user(10, "ru", "mark"),
    ):
        await users.upsert(user)
    subs = SubscriptionRepository(mongo_db)
    s = SubscriptionStatus
    await subs.save(_sub(1, s.ACTIVE, current_period_end=NOW + 10 * DAY))
    await subs.save(_sub(3, s.PAST_DUE, current_period_end=NOW - DAY, grace_until=NOW + 2 * DAY))
    await subs.save(_sub(4, s.CANCELLED, current_period_end=NOW + 5 * DAY))
    await subs.save(_sub(5, s.ACTIVE, current_period_end=NOW - DAY))
    await subs.save(_sub(7, s.ACTIVE, current_period_end=NOW + 10 * DAY))
    await subs.save(_sub(10, s.PAST_DUE, current_period_end=NOW - 9 * DAY, grace_until=NOW - DAY))
    conversations = [(1, 1), (2, 20), (4, 3), (5, 40), (5, 35), (7, 1), (8, 1), (10, 8), (10, 100)]
    await mongo_db[c.CONVERSATIONS].insert_many(
        [
            {"_id": f"c{n}", "user_id": uid, "persona_id": "anna", "updated_at": NOW - days * DAY}
            for n, (uid, days) in enumerate(conversations)
        ]
    )
    return mongo_db


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        (Segment(kind=K.ALL), [1, 2, 3, 4, 5, 9, 10]),
        (Segment(kind=K.PRO), [1, 3, 4]),
        (Segment(kind=K.FREE), [2, 5, 9, 10]),
        (Segment(kind=K.LANGUAGE, language="en"), [1, 3, 5, 9]),
        (Segment(kind=K.LANGUAGE, language="ru"), [2, 4, 10]),
        (Segment(kind=K.PERSONA, persona_id="anna"), [1, 4, 5]),
        (Segment(kind=K.PERSONA, persona_id="mark"), [2, 10]),
        (Segment(kind=K.PERSONA, persona_id="nobody"), []),
        (Segment(kind=K.INACTIVE, inactive_days=7), [2, 3, 5, 10]),
        (Segment(kind=K.INACTIVE, inactive_days=30), [3, 5]),
    ],
    ids=lambda value: value.kind.value if isinstance(value, Segment) else None,
)
async def test_segment_members(
    db: AsyncDatabase[dict[str, Any]], segment: Segment, expected: list[int]
) -> None:
    queries = SegmentQueries(db)
    assert await queries.user_ids(segment, NOW) == expected
    assert await queries.count(segment, NOW) == len(expected)


async def test_confirm_writes_each_member_once_and_only_for_a_draft(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    woken: list[bool] = []
    service = BroadcastService(
        CampaignStore(db),
        SegmentQueries(db),
        clock=lambda: NOW,
        on_confirmed=lambda: woken.append(True),
    )
    draft = await service.draft(Content(text="Hi"), admin_id=99, admin_language="en")
    segment = Segment(kind=K.PRO)
    confirmed = await service.confirm(draft.id, segment, chat_id=99, message_id=5)
    assert confirmed is not None and confirmed.status is CampaignStatus.CONFIRMED
    assert confirmed.total == 3 and confirmed.segment == segment and woken == [True]
    # A second press: nothing more is written, and the caller is told it is not a draft.
    assert await service.confirm(draft.id, Segment(kind=K.ALL), chat_id=99, message_id=5) is None
    rows = await db[c.BROADCAST_RECIPIENTS].find({"campaign_id": draft.id}).to_list()
    assert sorted(r["user_id"] for r in rows) == [1, 3, 4]
    assert {r["state"] for r in rows} == {RecipientState.PENDING.value}
    # Cancelled: the pending recipients stay for the report, and it cannot be confirmed again.
    assert await service.cancel(draft.id)
    assert (await service.get(draft.id)).status is CampaignStatus.CANCELLED  # type: ignore[union-attr]
    assert not await service.cancel(draft.id)
