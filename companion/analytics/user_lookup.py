"""One person as support sees them: the owner's console "Users" section (issue 17).

`UserLookup.find("42")` or `find("@anna")` gathers the profile (language, persona, flags),
the subscription and whether it gives PRO now, the payment history (through the
`PaymentHistory` port: billing is another service), when they last wrote and how many messages
they sent. Messages are counted and dated from their metadata only: their text is never read,
so the console cannot show what anyone said.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from companion.domain.models import MessageRole, Subscription, User
from companion.domain.ports import PaymentHistory, PaymentLine
from companion.storage import collections as c

# Telegram usernames: 5-32 of [A-Za-z0-9_] (a few old ones are shorter), with or without "@",
# or as a t.me link.
_USERNAME = re.compile(r"^(?:@|(?:https?://)?t\.me/)?([A-Za-z0-9_]{3,32})$")
_MAX_ID = 2**53  # Telegram ids fit in 52 bits; anything longer is a typo


class InvalidQueryError(ValueError):
    """Neither a Telegram user id nor a @username."""


@dataclass(frozen=True, slots=True)
class UserQuery:
    user_id: int | None = None
    username: str | None = None


def parse_query(text: str) -> UserQuery:
    """ "42" → the id 42; "@anna", "anna" or "t.me/anna" → the username "anna"."""
    query = text.strip()
    if query.isdigit():
        user_id = int(query)
        if 0 < user_id < _MAX_ID:
            return UserQuery(user_id=user_id)
        raise InvalidQueryError(text)
    match = _USERNAME.match(query)
    if match is None or match.group(1).isdigit():
        raise InvalidQueryError(text)
    return UserQuery(username=match.group(1))


def looks_like_query(text: str) -> bool:
    """Whether `text` is meant as a lookup at all: a number, an "@name" or a t.me link (a typo
    in one gets a hint), as opposed to ordinary chat typed while the prompt waited."""
    query = text.strip()
    return query[:1].isdigit() or query.startswith(("@", "t.me/", "http://", "https://"))


class UserDirectory(Protocol):
    """`companion.storage.users.UserRepository`."""

    async def get(self, user_id: int) -> User | None: ...
    async def find_by_username(self, username: str) -> User | None: ...


class SubscriptionReader(Protocol):
    """`companion.storage.subscriptions.SubscriptionRepository`."""

    async def get(self, user_id: int) -> Subscription | None: ...


@dataclass(frozen=True, slots=True)
class Activity:
    messages: int  # sent by the person (not the persona's replies)
    last_seen: datetime | None  # their latest message


class MessageActivity:
    """Counts and dates a person's messages from the `messages` collection, reading only
    ``user_id``, ``role`` and ``created_at`` (the `user_created` index serves both queries)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._messages = db[c.MESSAGES]

    async def of(self, user_id: int) -> Activity:
        query = {"user_id": user_id, "role": MessageRole.USER.value}
        count = await self._messages.count_documents(query)
        latest = await self._messages.find_one(
            query, {"created_at": 1, "_id": 0}, sort=[("created_at", DESCENDING)]
        )
        return Activity(count, latest["created_at"] if latest else None)


class ActivitySource(Protocol):
    async def of(self, user_id: int) -> Activity: ...


@dataclass(frozen=True, slots=True)
class UserCard:
    """Everything the Users section shows about one person; no message contents."""

    user: User
    subscription: Subscription | None
    pro_now: bool
    payments: list[PaymentLine]
    activity: Activity

    @property
    def refundable(self) -> list[PaymentLine]:
        return [line for line in self.payments if line.refundable]


class UserLookup:
    def __init__(
        self,
        users: UserDirectory,
        subscriptions: SubscriptionReader,
        payments: PaymentHistory,
        activity: ActivitySource,
        clock: Callable[[], datetime],
        *,
        payments_shown: int = 5,
    ) -> None:
        self._users = users
        self._subscriptions = subscriptions
        self._payments = payments
        self._activity = activity
        self._clock = clock
        self._payments_shown = payments_shown

    async def find(self, text: str) -> UserCard | None:
        """The card of the person `text` names (an id or a @username); None when there is no
        such person. Raises InvalidQueryError for text that is neither."""
        query = parse_query(text)
        if query.user_id is not None:
            user = await self._users.get(query.user_id)
        else:
            assert query.username is not None
            user = await self._users.find_by_username(query.username)
        return None if user is None else await self.card(user)

    async def card_of(self, user_id: int) -> UserCard | None:
        user = await self._users.get(user_id)
        return None if user is None else await self.card(user)

    async def card(self, user: User) -> UserCard:
        subscription = await self._subscriptions.get(user.id)
        return UserCard(
            user=user,
            subscription=subscription,
            pro_now=subscription is not None and subscription.grants_pro(self._clock()),
            payments=await self._payments.payments_of(user.id, self._payments_shown),
            activity=await self._activity.of(user.id),
        )
