"""User profiles in the `users` collection (`_id` = Telegram user id).

The fields that name or reach the person (`collections.ENCRYPTED_TEXT_FIELDS[USERS]`: first
name, username, receipt e-mail/phone) go through the field cipher, like message text. A profile
stored before that (plaintext strings) still reads; `companion db reencrypt --encrypt-plaintext`
seals it, and any write of the field seals it too.

Since the username is sealed, the owner's console finds people by @username through
``username_key``: the cipher's keyed fingerprint of the lower-cased name, written with every
write of the username (`find_by_username`).
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from companion.domain.models import User
from companion.storage import collections as c
from companion.storage.crypto import FieldCipher, PlaintextCipher
from companion.storage.documents import (
    Document,
    from_document,
    stored_copy,
    to_document,
    validated_updates,
)
from companion.storage.sealing import seal, unseal

_SEALED = c.ENCRYPTED_TEXT_FIELDS[c.USERS]
# The blind index of the sealed username (see the module docstring).
USERNAME_KEY = "username_key"


def username_key(cipher: FieldCipher, username: object) -> str | None:
    """The ``username_key`` for a username (None for none): case and "@" do not matter."""
    if not isinstance(username, str) or not username.strip():
        return None
    return cipher.fingerprint(username.strip().lstrip("@").lower())


class UserRepository:
    """Implements `companion.domain.ports.UserStore`."""

    def __init__(self, db: AsyncDatabase[Document], cipher: FieldCipher | None = None) -> None:
        self._users = db[c.USERS]
        # Without a cipher (tests, tools that only count) names are stored as given.
        self._cipher: FieldCipher = cipher or PlaintextCipher()

    def _seal(self, document: Document) -> Document:
        sealed = seal(document, _SEALED, self._cipher)
        if "username" in document:
            sealed[USERNAME_KEY] = username_key(self._cipher, document["username"])
        return sealed

    def _open(self, document: Document) -> User:
        return from_document(User, unseal(document, _SEALED, self._cipher))

    async def get(self, user_id: int) -> User | None:
        document = await self._users.find_one({"_id": user_id})
        return None if document is None else self._open(document)

    async def find_by_username(self, username: str) -> User | None:
        """The profile with this Telegram @username (any case, with or without the "@")."""
        name = username.strip().lstrip("@").lower()
        if not name:
            return None
        keys = list(self._cipher.fingerprints(name))
        document = await self._users.find_one({USERNAME_KEY: {"$in": keys}})
        if document is None and await self._index_old_profiles():
            document = await self._users.find_one({USERNAME_KEY: {"$in": keys}})
        return None if document is None else self._open(document)

    async def _index_old_profiles(self) -> int:
        """Write ``username_key`` on profiles stored before it existed (once per profile)."""
        indexed = 0
        query = {USERNAME_KEY: {"$exists": False}, "username": {"$ne": None}}
        async for document in self._users.find(query, {"username": 1}):
            name = self._cipher.decrypt(document["username"])
            key = username_key(self._cipher, name)
            await self._users.update_one({"_id": document["_id"]}, {"$set": {USERNAME_KEY: key}})
            indexed += 1
        return indexed

    async def upsert(self, user: User) -> User:
        """Store the whole profile (insert or replace). Prefer `update` for single fields."""
        await self._users.replace_one({"_id": user.id}, self._seal(to_document(user)), upsert=True)
        return stored_copy(user)

    async def get_or_create(self, user: User) -> tuple[User, bool]:
        """The stored profile, or `user` inserted as new; the flag says whether it was created.

        Safe when two updates from a new person arrive at once: only one insert wins and both
        get the same stored profile.
        """
        document = self._seal(to_document(user))
        try:
            result = await self._users.update_one(
                {"_id": user.id}, {"$setOnInsert": document}, upsert=True
            )
        except DuplicateKeyError:
            pass  # a concurrent upsert inserted it first (possible on MongoDB): read theirs
        else:
            if result.upserted_id is not None:
                return stored_copy(user), True
        stored = await self.get(user.id)
        if stored is None:  # erased between the two calls: store it again
            return await self.upsert(user), True
        return stored, False

    async def update(self, user_id: int, **fields: object) -> User | None:
        """Set some fields; nested ones as `settings__echo_transcripts=True` (or with a dot).

        Values are validated against `User`; returns the updated profile, or None when there
        is no such user (nothing is created).
        """
        if not fields:
            return await self.get(user_id)
        updates = self._seal(validated_updates(User, dict(fields), frozen=frozenset({"id", "_id"})))
        # update_one + find_one rather than find_one_and_update: the embedded server
        # (SecantusDB) answers findAndModify with a scan of the whole collection (~25 ms at
        # 3,000 users), these two from the _id index. The profile returned is the stored one
        # after the update (a concurrent update may already be in it, as it would be a moment
        # later anyway).
        result = await self._users.update_one({"_id": user_id}, {"$set": updates})
        if result.matched_count == 0:
            return None
        return await self.get(user_id)

    async def delete(self, user_id: int) -> bool:
        """Remove only the profile; `UserDataService.erase` removes everything about a user."""
        result = await self._users.delete_one({"_id": user_id})
        return result.deleted_count == 1

    async def count(self) -> int:
        return await self._users.count_documents({})
