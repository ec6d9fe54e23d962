"""Check-in jobs in MongoDB (`outreach_jobs`): idempotent planning, leases, and the send marks.

Three kinds of documents share the collection, all with `user_id` (so /export and /forget
cover them):

- jobs, `_id` = their unique key ("event:<user>:<fact>", "silence:<user>"): planning the same
  follow-up twice changes nothing;
- "quota:<user>": the times of the user's check-ins of the last 7 days (the weekly cap);
- "activity:<user>": the last exchange and when its facts are to be planned (`plan_at`).

**Exactly once across workers.** A worker reads a few due jobs from the `state_due` index and
takes one with an update conditional on it still being due with its lease free or expired: a
compare-and-set, so of two workers racing for a job exactly one update matches. The update
sets a fresh `lease_token`, `lease_until`, and moves `due_at` to the lease's end, so a held job
is not due (`scheduled_at` keeps the planned time). (A single findOneAndUpdate would do the
same in one round trip, but the embedded server answers it with a scan of the whole
collection: benchmarks/outreach_claims.py.) Every later write is conditional on the token: a
worker whose lease expired (it hung, the job was reclaimed) cannot touch the job any more.

**The crash window.** Before the Bot API call the job goes `pending -> sending`, after it
`sending -> sent`. A worker that dies while a job is `pending` (writing the text, say) leaves
a lease that expires: the job is claimed again and sent once. A worker that dies between
`sending` and `sent` may or may not have delivered it; such a job is never sent again but
marked `unknown` (`recover`). We chose at most once: a second "how did the exam go?" costs
more than a missing one.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from companion.outreach.jobs import CheckinJob, JobKind, JobState
from companion.storage import collections as c
from companion.storage.documents import to_storage_precision

Document = dict[str, Any]
WEEK = timedelta(days=7)
# `lease_until` of a job nobody holds: never null, so "free or expired" is one comparison.
FREE = datetime(1970, 1, 1, tzinfo=UTC)
# Due jobs read per claim; a worker that loses all of them to others reads again.
_CANDIDATES = 8
_ROUNDS = 3


def event_key(user_id: int, fact_id: str) -> str:
    return f"event:{user_id}:{fact_id}"


def silence_key(user_id: int) -> str:
    return f"silence:{user_id}"


def _ms(value: datetime) -> datetime:
    return to_storage_precision(value)


def _to_job(document: Document) -> CheckinJob:
    return CheckinJob.model_validate({**document, "id": document["_id"]})


class JobStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._jobs = db[c.OUTREACH_JOBS]

    # -- planning ---------------------------------------------------------------------------

    async def schedule_event(
        self,
        *,
        user_id: int,
        persona_id: str,
        fact_id: str,
        event_date: date,
        due_at: datetime,
        now: datetime,
    ) -> bool:
        """Plan a follow-up of a dated fact once; True when it was new. A pending job of a
        fact whose date changed (the exam moved) moves with it."""
        key = event_key(user_id, fact_id)
        result = await self._jobs.update_one(
            {"_id": key},
            {
                "$setOnInsert": {
                    "kind": JobKind.EVENT.value,
                    "user_id": user_id,
                    "persona_id": persona_id,
                    "fact_id": fact_id,
                    "event_date": event_date.isoformat(),
                    "due_at": _ms(due_at),
                    "scheduled_at": _ms(due_at),
                    "state": JobState.PENDING.value,
                    "attempts": 0,
                    "lease_token": None,
                    "lease_until": FREE,
                    "created_at": _ms(now),
                    "updated_at": _ms(now),
                }
            },
            upsert=True,
        )
        if result.upserted_id is not None:
            return True
        await self._jobs.update_one(
            {
                "_id": key,
                "state": JobState.PENDING.value,
                "event_date": {"$ne": event_date.isoformat()},
            },
            {
                "$set": {
                    "event_date": event_date.isoformat(),
                    "due_at": _ms(due_at),
                    "scheduled_at": _ms(due_at),
                    "updated_at": _ms(now),
                }
            },
        )
        return False

    async def touch_activity(
        self,
        *,
        user_id: int,
        persona_id: str,
        at: datetime,
        silence_due: datetime,
        plan_at: datetime,
    ) -> None:
        """The user just talked: plan their facts at `plan_at` (after memory learnt them) and
        move the silence check-in to `silence_due`, cancelling a leased one."""
        await self._jobs.update_one(
            {"_id": f"activity:{user_id}"},
            {
                "$set": {
                    "user_id": user_id,
                    "kind": "activity",
                    "persona_id": persona_id,
                    "last_at": _ms(at),
                    "plan_at": _ms(plan_at),
                }
            },
            upsert=True,
        )
        # A job being sent right now is left alone (its mark decides): the upsert's insert
        # then collides with it.
        with contextlib.suppress(DuplicateKeyError):
            await self._jobs.update_one(
                {"_id": silence_key(user_id), "state": {"$ne": JobState.SENDING.value}},
                {
                    "$set": {
                        "persona_id": persona_id,
                        "due_at": _ms(silence_due),
                        "scheduled_at": _ms(silence_due),
                        "state": JobState.PENDING.value,
                        "last_activity_at": _ms(at),
                        "attempts": 0,
                        "lease_token": None,
                        "lease_until": FREE,
                        "reason": None,
                        "updated_at": _ms(at),
                    },
                    "$setOnInsert": {
                        "kind": JobKind.SILENCE.value,
                        "user_id": user_id,
                        "created_at": _ms(at),
                    },
                },
                upsert=True,
            )

    async def due_plans(self, now: datetime, limit: int = 100) -> list[tuple[int, str, datetime]]:
        """(user, persona, plan_at) of activity whose facts are due to be planned."""
        # The `kind_plan_at` index's keys exactly (see `claim`).
        query = {"kind": "activity", "plan_at": {"$lte": _ms(now)}}
        cursor = self._jobs.find(query).sort("plan_at", ASCENDING).limit(limit)
        return [(d["user_id"], d["persona_id"], d["plan_at"]) async for d in cursor]

    async def planned(self, user_id: int, plan_at: datetime) -> None:
        """Done planning up to `plan_at`; a newer exchange (a later plan_at) stays due."""
        await self._jobs.update_one(
            {"_id": f"activity:{user_id}", "plan_at": plan_at}, {"$set": {"plan_at": None}}
        )

    # -- claiming and the send marks ------------------------------------------------------------

    async def claim(self, now: datetime, lease_s: float) -> CheckinJob | None:
        """Lease the oldest due job (exactly one worker gets it); None when none is due.

        A claim moves the job's `due_at` to the end of its lease, so a held job is simply not
        due: due jobs are free or their lease expired, and are read from the `state_due` index
        (the query names exactly its keys; the embedded server scans the collection for
        anything else, benchmarks/outreach_claims.py). Each is then taken with an update
        conditional on still being due: of workers racing for a job, one update matches.
        """
        at = _ms(now)
        due = {"state": JobState.PENDING.value, "due_at": {"$lte": at}}
        until = _ms(now + timedelta(seconds=lease_s))
        for _ in range(_ROUNDS):
            cursor = self._jobs.find(due, {"_id": 1}).sort("due_at", ASCENDING)
            candidates = [d["_id"] async for d in cursor.limit(_CANDIDATES)]
            for job_id in candidates:
                token = uuid.uuid4().hex
                result = await self._jobs.update_one(
                    {"_id": job_id, **due, "lease_until": {"$lte": at}},
                    {
                        "$set": {
                            "lease_token": token,
                            "lease_until": until,
                            "due_at": until,
                            "updated_at": at,
                        },
                        "$inc": {"attempts": 1},
                    },
                )
                if result.modified_count == 1:
                    document = await self._jobs.find_one({"_id": job_id})
                    if document is not None and document.get("lease_token") == token:
                        return _to_job(document)
            if len(candidates) < _CANDIDATES:
                return None
        return None

    def _held(self, job: CheckinJob, state: JobState = JobState.PENDING) -> Document:
        return {"_id": job.id, "lease_token": job.lease_token, "state": state.value}

    async def defer(self, job: CheckinJob, until: datetime, now: datetime) -> bool:
        """Give the job back to run at `until` (quiet hours, a retry); not an attempt."""
        result = await self._jobs.update_one(
            self._held(job),
            {
                "$set": {
                    "due_at": _ms(until),
                    "scheduled_at": _ms(until),
                    "lease_token": None,
                    "lease_until": FREE,
                    "updated_at": _ms(now),
                },
                "$inc": {"attempts": -1},
            },
        )
        return result.modified_count == 1

    async def retry(self, job: CheckinJob, until: datetime, now: datetime) -> bool:
        """Run again at `until`, counting this try (the model or Telegram failed)."""
        result = await self._jobs.update_one(
            self._held(job),
            {
                "$set": {
                    "due_at": _ms(until),
                    "scheduled_at": _ms(until),
                    "lease_token": None,
                    "lease_until": FREE,
                    "updated_at": _ms(now),
                }
            },
        )
        return result.modified_count == 1

    async def skip(
        self, job: CheckinJob, reason: str, now: datetime, *, from_state: JobState | None = None
    ) -> bool:
        result = await self._jobs.update_one(
            self._held(job, from_state or JobState.PENDING),
            {
                "$set": {
                    "state": JobState.SKIPPED.value,
                    "reason": reason,
                    "lease_token": None,
                    "lease_until": FREE,
                    "updated_at": _ms(now),
                }
            },
        )
        return result.modified_count == 1

    async def mark_sending(self, job: CheckinJob, now: datetime) -> bool:
        """The point of no return; False when the lease was lost (expired or the job changed)."""
        query = {**self._held(job), "lease_until": {"$gt": _ms(now)}}
        result = await self._jobs.update_one(
            query, {"$set": {"state": JobState.SENDING.value, "updated_at": _ms(now)}}
        )
        return result.modified_count == 1

    async def mark_sent(self, job: CheckinJob, now: datetime) -> bool:
        result = await self._jobs.update_one(
            self._held(job, JobState.SENDING),
            {
                "$set": {
                    "state": JobState.SENT.value,
                    "sent_at": _ms(now),
                    "lease_token": None,
                    "lease_until": FREE,
                    "updated_at": _ms(now),
                }
            },
        )
        return result.modified_count == 1

    async def unsend(self, job: CheckinJob, until: datetime, now: datetime) -> bool:
        """`sending -> pending`: Telegram said for sure it did not deliver (a 5xx, 429)."""
        result = await self._jobs.update_one(
            self._held(job, JobState.SENDING),
            {
                "$set": {
                    "state": JobState.PENDING.value,
                    "due_at": _ms(until),
                    "scheduled_at": _ms(until),
                    "lease_token": None,
                    "lease_until": FREE,
                    "updated_at": _ms(now),
                }
            },
        )
        return result.modified_count == 1

    async def recover(self, now: datetime) -> int:
        """Jobs whose worker died mid-send: `unknown`, never sent again (at most once)."""
        result = await self._jobs.update_many(
            # A sending job's due_at is its lease end (set by `claim`): the index's keys.
            {"state": JobState.SENDING.value, "due_at": {"$lte": _ms(now)}},
            {
                "$set": {
                    "state": JobState.UNKNOWN.value,
                    "lease_token": None,
                    "lease_until": FREE,
                    "updated_at": _ms(now),
                }
            },
        )
        return result.modified_count

    async def count_due(self, now: datetime) -> int:
        return await self._jobs.count_documents(
            {"state": JobState.PENDING.value, "due_at": {"$lte": _ms(now)}}
        )

    async def get(self, job_id: str) -> CheckinJob | None:
        document = await self._jobs.find_one({"_id": job_id, "state": {"$exists": True}})
        return _to_job(document) if document is not None else None

    async def for_user(self, user_id: int) -> list[CheckinJob]:
        cursor = self._jobs.find({"user_id": user_id, "state": {"$exists": True}})
        return [_to_job(document) async for document in cursor.sort("due_at", ASCENDING)]

    async def forget(self, user_id: int) -> int:
        """Everything about the user (a write that raced their erasure)."""
        result = await self._jobs.delete_many({"user_id": user_id})
        return result.deleted_count

    # -- the weekly cap ---------------------------------------------------------------------------

    async def reserve_slot(self, user_id: int, now: datetime, cap: int) -> bool:
        """Take one of the user's `cap` check-ins of the last 7 days, atomically (two workers
        cannot both take the last one); False when none is left."""
        if cap <= 0:
            return False
        key = f"quota:{user_id}"
        await self._jobs.update_one({"_id": key}, {"$pull": {"sent": {"$lte": _ms(now - WEEK)}}})
        try:
            result = await self._jobs.update_one(
                # Fewer than `cap` entries: the array has no element at index cap-1.
                {"_id": key, f"sent.{cap - 1}": {"$exists": False}},
                {"$push": {"sent": _ms(now)}, "$setOnInsert": {"user_id": user_id}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # the document exists and is full: the upsert's insert collided
        return result.modified_count == 1 or result.upserted_id is not None

    async def release_slot(self, user_id: int, taken_at: datetime) -> None:
        await self._jobs.update_one({"_id": f"quota:{user_id}"}, {"$pull": {"sent": _ms(taken_at)}})

    async def sent_in_week(self, user_id: int, now: datetime) -> Sequence[datetime]:
        document = await self._jobs.find_one({"_id": f"quota:{user_id}"})
        sent: list[datetime] = (document or {}).get("sent", [])
        return [at for at in sent if at > now - WEEK]
