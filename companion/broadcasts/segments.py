"""Who is in a segment, read from the users, subscriptions and conversations collections.

Every segment is a subset of the audience: users who accepted the terms, did not block the bot
(`User.blocked_at`) and did not turn news off (`UserSettings.news`). On top of that:

- ``pro``: a subscription that grants PRO now (`Subscription.grants_pro`: active or cancelled
  within its period, past due within its grace period); ``free``: everyone else;
- ``language``: the interface language;
- ``persona``: the persona they talk to now (`User.current_persona_id`);
- ``inactive`` N days: no conversation touched in the last N days (a conversation's
  `updated_at` is its last activity), and joined more than N days ago.

Ids are read with projections and combined here as sets: plain queries every MongoDB-wire
server answers the same way, and one id list of even 10^5 users is a few MB.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.broadcasts.models import Segment, SegmentKind
from companion.domain.models import SubscriptionStatus
from companion.storage import collections as c

Document = dict[str, Any]

AUDIENCE: Document = {
    "consent_at": {"$ne": None},
    "blocked_at": None,  # also matches profiles stored before the field existed
    "settings.news": {"$ne": False},
}


def pro_filter(now: datetime) -> Document:
    """Subscriptions that grant PRO at `now`, as `Subscription.grants_pro` decides."""
    return {
        "$or": [
            {
                "status": {
                    "$in": [SubscriptionStatus.ACTIVE.value, SubscriptionStatus.CANCELLED.value]
                },
                "current_period_end": {"$gt": now},
            },
            {"status": SubscriptionStatus.PAST_DUE.value, "grace_until": {"$gt": now}},
        ]
    }


class SegmentQueries:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._users = db[c.USERS]
        self._subscriptions = db[c.SUBSCRIPTIONS]
        self._conversations = db[c.CONVERSATIONS]

    async def user_ids(self, segment: Segment, now: datetime) -> list[int]:
        """The members, sorted by id."""
        query: Document = dict(AUDIENCE)
        kind = segment.kind
        if kind is SegmentKind.LANGUAGE:
            query["language"] = segment.language
        elif kind is SegmentKind.PERSONA:
            query["current_persona_id"] = segment.persona_id
        elif kind is SegmentKind.INACTIVE:
            query["created_at"] = {"$lt": self._cutoff(segment, now)}
        members = {int(doc["_id"]) async for doc in self._users.find(query, {"_id": 1})}
        if kind in (SegmentKind.PRO, SegmentKind.FREE):
            paying = set(await self._subscriptions.distinct("user_id", pro_filter(now)))
            members = members & paying if kind is SegmentKind.PRO else members - paying
        elif kind is SegmentKind.INACTIVE:
            recent = {"updated_at": {"$gte": self._cutoff(segment, now)}}
            members -= set(await self._conversations.distinct("user_id", recent))
        return sorted(members)

    async def count(self, segment: Segment, now: datetime) -> int:
        return len(await self.user_ids(segment, now))

    @staticmethod
    def _cutoff(segment: Segment, now: datetime) -> datetime:
        return now - timedelta(days=segment.inactive_days or 1)
