"""The indexes every collection needs, created idempotently at start-up.

Creating an index that already exists with the same name and keys is a no-op on MongoDB and
SecantusDB, so `ensure_indexes` runs on every start. When an index definition changes between
releases (same name, different keys or options) the server refuses it; we then drop the old
index and build the new one, with a warning in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from companion.storage import collections as c

log = logging.getLogger(__name__)

# Server error codes for "an index with this name exists with other keys/options".
_INDEX_CONFLICT_CODES = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict

_INDEX_NOT_FOUND = 27

_STRING = {"$type": "string"}

INDEXES: Mapping[str, Sequence[IndexModel]] = {
    # The owner's console finds a person by @username (`UserRepository.find_by_username`).
    c.USERS: (IndexModel([("username_key", ASCENDING)], name="username_key"),),
    c.CONVERSATIONS: (
        IndexModel(
            [("user_id", ASCENDING), ("persona_id", ASCENDING), ("active", ASCENDING)],
            name="user_persona_active",
        ),
        # At most one active conversation per (user, persona), even when two `start` calls race.
        IndexModel(
            [("user_id", ASCENDING), ("persona_id", ASCENDING)],
            name="one_active_per_persona",
            unique=True,
            partialFilterExpression={"active": True},
        ),
        IndexModel([("user_id", ASCENDING), ("updated_at", DESCENDING)], name="user_recent"),
    ),
    c.MESSAGES: (
        IndexModel(
            [("conversation_id", ASCENDING), ("seq", ASCENDING)],
            name="conversation_seq",
            unique=True,
        ),
        IndexModel([("user_id", ASCENDING), ("created_at", ASCENDING)], name="user_created"),
        # The owner's stats (companion.analytics): people's messages of a period are a range
        # scan, not a pass over every message (`role` first: SecantusDB's planner scans the
        # whole collection when a query has a field its index lacks).
        IndexModel([("role", ASCENDING), ("created_at", ASCENDING)], name="role_created"),
    ),
    c.MEMORIES: (
        IndexModel([("user_id", ASCENDING), ("created_at", ASCENDING)], name="user_created"),
    ),
    c.MEMORY_HISTORY: (
        IndexModel([("user_id", ASCENDING), ("created_at", ASCENDING)], name="user_created"),
        # Versions of one fact, and the user's tombstones (`kind`), as the memory store reads them.
        IndexModel(
            [("user_id", ASCENDING), ("kind", ASCENDING), ("fact_id", ASCENDING)],
            name="user_kind_fact",
        ),
        # Forget markers: found by the user's pseudonym, deleted by the server when they expire.
        IndexModel([("user_ref", ASCENDING), ("created_at", ASCENDING)], name="marker_ref"),
        IndexModel([("expires_at", ASCENDING)], name="marker_expiry", expireAfterSeconds=0),
    ),
    c.EPISODES: (
        IndexModel([("user_id", ASCENDING), ("created_at", ASCENDING)], name="user_created"),
        # The newest embedded exchange of a conversation.
        IndexModel([("conversation_id", ASCENDING), ("seq", ASCENDING)], name="conversation_seq"),
    ),
    c.SUBSCRIPTIONS: (
        IndexModel([("user_id", ASCENDING)], name="user_unique", unique=True),
        # Renewal and expiry jobs scan by status and period end.
        IndexModel(
            [("status", ASCENDING), ("current_period_end", ASCENDING)], name="status_period_end"
        ),
    ),
    c.PAYMENTS: (
        IndexModel(
            [("provider", ASCENDING), ("payment_id", ASCENDING)],
            name="provider_payment_unique",
            unique=True,
            partialFilterExpression={"payment_id": _STRING},
        ),
        # One ledger entry per outgoing request: a retried request reuses its key.
        IndexModel(
            [("idempotency_key", ASCENDING)],
            name="idempotency_key_unique",
            unique=True,
            partialFilterExpression={"idempotency_key": _STRING},
        ),
        IndexModel([("user_id", ASCENDING), ("created_at", ASCENDING)], name="user_created"),
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="status_created"),
        # Revenue of a period (companion.analytics): succeeded payments by the time they were paid.
        IndexModel([("status", ASCENDING), ("paid_at", ASCENDING)], name="status_paid"),
    ),
    c.SUBSCRIPTION_TRANSITIONS: (
        IndexModel([("user_id", ASCENDING), ("at", ASCENDING)], name="user_at"),
        # Churn of a period (companion.analytics): changes into expired/refunded by time.
        IndexModel([("to", ASCENDING), ("at", ASCENDING)], name="to_at"),
    ),
    c.OUTREACH_JOBS: (
        # Due jobs, oldest first (the scheduler's claim), and due fact-planning passes.
        IndexModel([("state", ASCENDING), ("due_at", ASCENDING)], name="state_due"),
        IndexModel([("kind", ASCENDING), ("plan_at", ASCENDING)], name="kind_plan_at"),
        IndexModel([("user_id", ASCENDING), ("state", ASCENDING)], name="user_state"),
    ),
    c.EVENTS: (
        IndexModel([("user_id", ASCENDING), ("at", ASCENDING)], name="user_at"),
        IndexModel([("name", ASCENDING), ("at", ASCENDING)], name="name_at"),
    ),
    c.MOOD_READINGS: (
        IndexModel([("user_id", ASCENDING), ("at", ASCENDING)], name="user_at"),
        # Admin aggregates scan a period.
        IndexModel([("at", ASCENDING)], name="at"),
    ),
    c.SURVEY_RESPONSES: (
        IndexModel([("user_id", ASCENDING), ("at", ASCENDING)], name="user_at"),
        IndexModel([("at", ASCENDING)], name="at"),
    ),
    c.BROADCASTS: (
        # The worker's pick: the oldest active campaign.
        IndexModel([("status", ASCENDING), ("confirmed_at", ASCENDING)], name="status_confirmed"),
    ),
    c.BROADCAST_RECIPIENTS: (
        # Pending recipients in id order, and the report's counts by state.
        IndexModel(
            [("campaign_id", ASCENDING), ("state", ASCENDING), ("_id", ASCENDING)],
            name="campaign_state",
        ),
        IndexModel([("user_id", ASCENDING)], name="user"),
    ),
}


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Create every index in `INDEXES`; safe to run on every start and concurrently."""
    for collection_name, models in INDEXES.items():
        collection = db[collection_name]
        for model in models:
            try:
                await collection.create_indexes([model])
            except OperationFailure as exc:
                if exc.code not in _INDEX_CONFLICT_CODES:
                    raise
                name = model.document["name"]
                log.warning("index %s.%s changed definition; rebuilding it", collection_name, name)
                try:
                    await collection.drop_index(name)
                except OperationFailure as drop_exc:
                    if drop_exc.code != _INDEX_NOT_FOUND:
                        raise
                    # Same keys under an older name: drop that one by its key pattern.
                    await collection.drop_index(list(model.document["key"].items()))
                await collection.create_indexes([model])
