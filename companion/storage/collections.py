"""Names of the MongoDB collections, and where each keeps the id of the person it is about.

Every module that stores something imports its collection name from here, so that export and
erase (`companion.storage.user_data`) know every place that holds personal data. A new
collection that holds anything about a user MUST be added to `USER_DATA_FIELDS` (or, for
accounting records kept after erasure, to `RETAINED_AFTER_ERASURE`).
"""

from __future__ import annotations

from typing import Final

# The profile: one document per person, `_id` is the Telegram user id (an int).
USERS: Final = "users"
# One document per (user, persona) dialogue; `user_id`. `last_seq` tells where its messages end.
CONVERSATIONS: Final = "conversations"
# Every stored turn; `user_id`, `conversation_id`, `seq`; `text` encrypted at rest.
MESSAGES: Final = "messages"
# Long-term facts about the user (memory issue); `user_id`; fact text encrypted at rest.
MEMORIES: Final = "memories"
# Earlier versions of facts and deletion tombstones (memory issue); `user_id`.
MEMORY_HISTORY: Final = "memory_history"
# Message embeddings for episodic recall (memory issue); `user_id`.
EPISODES: Final = "episodes"
# One document per user with a subscription; `_id` and `user_id` are both the user id.
SUBSCRIPTIONS: Final = "subscriptions"
# The payment ledger (billing issue); `user_id`. Kept after erasure, stripped (see below).
PAYMENTS: Final = "payments"
# Every subscription state change (billing issue), `_id` = the change's idempotency key; `user_id`.
SUBSCRIPTION_TRANSITIONS: Final = "subscription_transitions"
# Funnel and audit events; `user_id`.
EVENTS: Final = "events"
# Proactive check-in jobs, weekly quotas and last activity (issue 19, companion.outreach);
# `user_id`. No message text: the fact is re-read from memory when the job runs.
OUTREACH_JOBS: Final = "outreach_jobs"
# Named monotonic counters for whoever needs one (`_id` = counter name, `value`); no user data.
COUNTERS: Final = "counters"
# The reports' daily sets of people (companion.analytics.people), `_id` "<kind>:YYYY-MM-DD":
# keyed pseudonyms (a permutation of the user id), never the id. Derived from events and
# messages (exported with them); erasure takes the person out (`people_sets.forget_person`).
ANALYTICS_PEOPLE: Final = "analytics_people"
# One emotion reading per user message (mood issue); `user_id`; day, persona and module in the
# clear for the daily series and anonymous aggregates, the labels and scores sealed.
MOOD_READINGS: Final = "mood_readings"
# Per user: days with messages, survey and help-offer times (mood issue); `_id` is the user id.
MOOD_STATE: Final = "mood_state"
# Satisfaction survey answers (mood issue); `user_id`; the comment sealed.
SURVEY_RESPONSES: Final = "survey_responses"
# News broadcasts (issue 17, companion.broadcasts): one document per campaign, the owner's
# content, segment and progress; `created_by` is the admin's id. No user data.
BROADCASTS: Final = "broadcasts"
# One document per (campaign, recipient), `_id` "<campaign>:<user>"; `user_id` and the state
# of the send (pending, sent, blocked...).
BROADCAST_RECIPIENTS: Final = "broadcast_recipients"
# Erasures in progress: `_id` is the user id while the erase runs, removed when it is done, so a
# crash half-way is finished by `UserDataService.finish_pending_erasures()` at start-up.
ERASURES: Final = "erasures"

# Collection -> the field holding the user id. Erase deletes every matching document, export
# reads them. Order is the erase order (see `UserDataService.erase`): the profile first (the
# person is no longer a known user), conversations before messages (an append to a deleted
# conversation fails, so a reply finishing during the erase cannot leave a message behind).
USER_DATA_FIELDS: Final[dict[str, str]] = {
    USERS: "_id",
    SUBSCRIPTIONS: "user_id",
    SUBSCRIPTION_TRANSITIONS: "user_id",
    CONVERSATIONS: "user_id",
    MESSAGES: "user_id",
    EPISODES: "user_id",
    MEMORY_HISTORY: "user_id",
    MEMORIES: "user_id",
    EVENTS: "user_id",
    OUTREACH_JOBS: "user_id",
    MOOD_READINGS: "user_id",
    MOOD_STATE: "_id",
    SURVEY_RESPONSES: "user_id",
    BROADCAST_RECIPIENTS: "user_id",
}

# Top-level fields written through the `FieldCipher` (encrypted at rest when a key is set).
# `companion db reencrypt` re-seals them after a key rotation: add yours here.
ENCRYPTED_TEXT_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    USERS: ("first_name", "username", "receipt_contact"),
    # The provider's saved-card token (YooKassa) or subscription charge id (Stars).
    SUBSCRIPTIONS: ("payment_method_id",),
    PAYMENTS: ("payment_method_id", "request_body"),
    MESSAGES: ("text",),
    CONVERSATIONS: ("summary",),
    MEMORIES: ("text",),
    MEMORY_HISTORY: ("text",),
    EPISODES: ("user_text", "reply_text"),
    MOOD_READINGS: ("reading",),
    MOOD_STATE: ("days",),
    SURVEY_RESPONSES: ("comment",),
}

# Collections whose documents survive erasure with the personal fields removed and the user id
# replaced by a keyed hash: payments must be kept for accounting and tax law (54-FZ, 402-FZ).
RETAINED_AFTER_ERASURE: Final[dict[str, str]] = {PAYMENTS: "user_id"}

# What an erased payment keeps: amounts, status and the provider's references, nothing that
# identifies the person (no receipt e-mail/phone, no description, no metadata, no saved card, no
# idempotency key, no confirmation URL). Erased payments have `user_ref` (a keyed hash) and
# `erased_at` instead of `user_id`: ledger readers must expect them.
PAYMENT_ACCOUNTING_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "_id",
        "provider",
        "payment_id",
        "kind",
        "plan_id",
        "amount",
        "currency",
        "status",
        "refunded_amount",
        "refund_id",
        "refund_ids",
        "failure_reason",
        "renews_period_end",
        "created_at",
        "updated_at",
        "paid_at",
        "granted_at",
        "refunded_at",
        # Why a succeeded payment was never credited (e.g. refunded because its payer was
        # erased): the refund of a payment made after erasure is recorded on this row.
        "closed_at",
        "closed_reason",
    }
)
