"""Campaigns (`broadcasts`) and their recipients (`broadcast_recipients`) in MongoDB.

A recipient document is ``{_id: "<campaign>:<user>", campaign_id, user_id, state, ...}``: the
id makes "one per person per campaign" a unique key, so confirming twice writes nobody twice.
Every state change is a conditional update on the expected old state, so two workers (a stale
one that lost its lease, and the new holder) never both claim or mark one recipient.

The lease: a campaign being sent has ``lease_owner`` and ``lease_until``; a worker takes it only
when it is free or expired, and renews it while sending. Workers only ever take the oldest
active campaign, so replicas send one campaign at a time and the pace stays global.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from companion.broadcasts.models import (
    ACTIVE_STATUSES,
    Campaign,
    CampaignStatus,
    Content,
    RecipientState,
    Report,
    Segment,
)
from companion.storage import collections as c
from companion.storage.documents import bson_ready, from_document, to_document

Document = dict[str, Any]
_INSERT_CHUNK = 1000
_DUPLICATE_KEY = 11000


def recipient_id(campaign_id: str, user_id: int) -> str:
    return f"{campaign_id}:{user_id}"


class CampaignStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._campaigns = db[c.BROADCASTS]
        self._recipients = db[c.BROADCAST_RECIPIENTS]

    # ------------------------------------------------------------------ campaigns

    async def create(
        self, content: Content, *, admin_id: int, admin_language: str, now: datetime
    ) -> Campaign:
        campaign = Campaign(
            id=secrets.token_hex(6),
            content=content,
            created_by=admin_id,
            admin_language=admin_language,
            created_at=now,
        )
        await self._campaigns.insert_one(to_document(campaign))
        return from_document(Campaign, bson_ready(to_document(campaign)))

    async def get(self, campaign_id: str) -> Campaign | None:
        document = await self._campaigns.find_one({"_id": campaign_id})
        return None if document is None else _campaign(document)

    async def add_recipients(self, campaign_id: str, user_ids: Iterable[int]) -> None:
        """Write pending recipients; ones already there (a repeated confirm) stay as they are."""
        documents = [
            {
                "_id": recipient_id(campaign_id, user_id),
                "campaign_id": campaign_id,
                "user_id": user_id,
                "state": RecipientState.PENDING.value,
            }
            for user_id in user_ids
        ]
        for start in range(0, len(documents), _INSERT_CHUNK):
            try:
                await self._recipients.insert_many(
                    documents[start : start + _INSERT_CHUNK], ordered=False
                )
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                    raise

    async def confirm(
        self,
        campaign_id: str,
        segment: Segment,
        *,
        now: datetime,
        progress_chat_id: int,
        progress_message_id: int,
    ) -> Campaign | None:
        """draft -> confirmed, with the number of recipients written; None if not a draft."""
        total = await self._recipients.count_documents({"campaign_id": campaign_id})
        result = await self._campaigns.update_one(
            {"_id": campaign_id, "status": CampaignStatus.DRAFT.value},
            {
                "$set": {
                    "status": CampaignStatus.CONFIRMED.value,
                    "segment": segment.model_dump(mode="json"),
                    "total": total,
                    "confirmed_at": now,
                    "progress_chat_id": progress_chat_id,
                    "progress_message_id": progress_message_id,
                }
            },
        )
        return await self.get(campaign_id) if result.modified_count else None

    async def cancel(self, campaign_id: str, *, now: datetime) -> bool:
        """A draft, or a campaign not finished yet, is cancelled; its pending recipients stay."""
        result = await self._campaigns.update_one(
            {
                "_id": campaign_id,
                "status": {"$in": [CampaignStatus.DRAFT.value, *ACTIVE_STATUSES]},
            },
            {"$set": {"status": CampaignStatus.CANCELLED.value, "finished_at": now}},
        )
        return result.modified_count == 1

    async def next_to_work_on(self) -> Campaign | None:
        """The oldest campaign to send, or a finished one whose report is not out yet."""
        query = {
            "$or": [
                {"status": {"$in": [s.value for s in ACTIVE_STATUSES]}},
                {
                    "status": {"$in": [CampaignStatus.DONE.value, CampaignStatus.CANCELLED.value]},
                    "report_sent": False,
                    "confirmed_at": {"$ne": None},
                },
            ]
        }
        cursor = self._campaigns.find(query).sort([("confirmed_at", ASCENDING)]).limit(1)
        async for document in cursor:
            return _campaign(document)
        return None

    async def take_lease(
        self, campaign_id: str, owner: str, *, now: datetime, ttl_s: float
    ) -> bool:
        """Hold the campaign for `ttl_s` (a confirmed one starts sending); False if another
        worker holds it."""
        result = await self._campaigns.update_one(
            {
                "_id": campaign_id,
                "$or": [
                    {"lease_until": None},
                    {"lease_until": {"$lt": now}},
                    {"lease_owner": owner},
                ],
            },
            {"$set": {"lease_owner": owner, "lease_until": now + timedelta(seconds=ttl_s)}},
        )
        if result.matched_count == 0:
            return False
        await self._campaigns.update_one(
            {"_id": campaign_id, "status": CampaignStatus.CONFIRMED.value},
            {"$set": {"status": CampaignStatus.SENDING.value}},
        )
        return True

    async def renew_lease(
        self, campaign_id: str, owner: str, *, now: datetime, ttl_s: float
    ) -> bool:
        """Extend the lease while still sending; False when it was lost or the admin cancelled."""
        result = await self._campaigns.update_one(
            {"_id": campaign_id, "lease_owner": owner, "status": CampaignStatus.SENDING.value},
            {"$set": {"lease_until": now + timedelta(seconds=ttl_s)}},
        )
        return result.matched_count == 1

    async def release_lease(self, campaign_id: str, owner: str) -> None:
        await self._campaigns.update_one(
            {"_id": campaign_id, "lease_owner": owner},
            {"$set": {"lease_owner": None, "lease_until": None}},
        )

    async def finish(self, campaign_id: str, owner: str, *, now: datetime) -> bool:
        """sending -> done, by the lease holder."""
        result = await self._campaigns.update_one(
            {"_id": campaign_id, "lease_owner": owner, "status": CampaignStatus.SENDING.value},
            {"$set": {"status": CampaignStatus.DONE.value, "finished_at": now}},
        )
        return result.modified_count == 1

    async def mark_reported(self, campaign_id: str) -> bool:
        """Claim the final report (False: already sent by someone)."""
        result = await self._campaigns.update_one(
            {"_id": campaign_id, "report_sent": False}, {"$set": {"report_sent": True}}
        )
        return result.modified_count == 1

    # ------------------------------------------------------------------ recipients

    async def pending(self, campaign_id: str, *, after: str, limit: int) -> list[tuple[str, int]]:
        """(recipient id, user id) of pending recipients past `after`, in id order."""
        cursor = (
            self._recipients.find(
                {
                    "campaign_id": campaign_id,
                    "state": RecipientState.PENDING.value,
                    "_id": {"$gt": after},
                },
                {"user_id": 1},
            )
            .sort([("_id", ASCENDING)])
            .limit(limit)
        )
        return [(str(doc["_id"]), int(doc["user_id"])) async for doc in cursor]

    async def claim(self, rid: str, owner: str, *, now: datetime) -> bool:
        return await self._move(
            rid,
            RecipientState.PENDING,
            RecipientState.CLAIMED,
            claimed_by=owner,
            claimed_at=now,
        )

    async def unclaim(self, rid: str, owner: str) -> bool:
        """Back to pending: Telegram said "retry after" and sent nothing."""
        return await self._move(
            rid, RecipientState.CLAIMED, RecipientState.PENDING, owner=owner, claimed_by=None
        )

    async def mark(
        self, rid: str, owner: str, state: RecipientState, *, now: datetime, detail: str = ""
    ) -> bool:
        """claimed (by `owner`) -> the outcome. A recipient another worker already declared
        unconfirmed still gets the real outcome."""
        result = await self._recipients.update_one(
            {
                "_id": rid,
                "claimed_by": owner,
                "state": {"$in": [RecipientState.CLAIMED.value, RecipientState.UNCONFIRMED.value]},
            },
            {"$set": {"state": state.value, "done_at": now, "detail": detail[:200]}},
        )
        return result.modified_count == 1

    async def skip(self, rid: str, *, now: datetime) -> bool:
        return await self._move(rid, RecipientState.PENDING, RecipientState.SKIPPED, done_at=now)

    async def fail_unsent(self, rid: str, *, now: datetime) -> bool:
        """A pending recipient whose turn failed on our side (its profile unreadable...)."""
        return await self._move(rid, RecipientState.PENDING, RecipientState.FAILED, done_at=now)

    async def orphaned_claims(self, campaign_id: str, owner: str, *, now: datetime) -> int:
        """Claims of workers that are gone -> unconfirmed: their message may have gone out
        (a crash between the Bot API call and the mark), so they are never sent again."""
        result = await self._recipients.update_many(
            {
                "campaign_id": campaign_id,
                "state": RecipientState.CLAIMED.value,
                "claimed_by": {"$ne": owner},
            },
            {"$set": {"state": RecipientState.UNCONFIRMED.value, "done_at": now}},
        )
        return result.modified_count

    async def report(self, campaign_id: str) -> Report:
        counts = {
            state.value: await self._recipients.count_documents(
                {"campaign_id": campaign_id, "state": state.value}
            )
            for state in RecipientState
        }
        return Report.from_counts(counts)

    async def _move(
        self,
        rid: str,
        before: RecipientState,
        after: RecipientState,
        *,
        owner: str | None = None,
        **fields: Any,
    ) -> bool:
        query: Document = {"_id": rid, "state": before.value}
        if owner is not None:
            query["claimed_by"] = owner
        result = await self._recipients.update_one(
            query, {"$set": {"state": after.value, **fields}}
        )
        return result.modified_count == 1


def _campaign(document: Document) -> Campaign:
    return from_document(Campaign, document)
