"""The stored form of the reports' daily sets of people (`analytics_people`), and their erasure.

One document per (kind, UTC day), `_id` "<kind>:<YYYY-MM-DD>": `groups`, each a group name
(a persona id, or "" for an event), the people as sorted pseudonyms (packed little-endian
uint64) and how many times each did the thing (packed uint32), plus `key` (the pseudonym key's
id) and `v` (this format). `companion.analytics.people` computes and reads them; the erasure
(`UserDataService.erase`) takes a person out with `forget_person`.

A pseudonym is a keyed 64-bit permutation of the user id (a 4-round Feistel network under keys
derived from the service's pseudonym key): two people never share one, so counts over the sets
are exact, and the id cannot be read back without the key.

The erasure runs after the person's events and messages are deleted, so a report computing a
day afterwards cannot see them; a report that read them just before and stores its day just
after `forget_person` would put the pseudonym back (a window of one report's run, during an
erasure): `companion stats rebuild` over the period recounts those days.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from companion.storage import collections as c
from companion.storage.documents import Document

FORMAT = 1  # of the stored documents: one in another format is computed again
_SEED_ID = -17  # the pseudonym key's input for the permutation's keys (user ids are positive)
IDS = np.dtype("<u8")
COUNTS = np.dtype("<u4")


class Pseudonyms:
    """A keyed permutation of 64-bit ints: one pseudonym per person, never shared."""

    def __init__(self, pseudonym: Callable[[int], str]) -> None:
        seed = pseudonym(_SEED_ID).encode()
        self._keys = [hashlib.sha256(b"analytics-%d:" % r + seed).digest()[:16] for r in range(4)]
        self.key_id = hashlib.sha256(b"analytics-key-id:" + seed).hexdigest()[:16]

    def __call__(self, user_id: int) -> int:
        value = user_id % 2**64
        left, right = value >> 32, value & 0xFFFFFFFF
        for key in self._keys:
            digest = hashlib.blake2b(right.to_bytes(4, "little"), key=key, digest_size=4)
            left, right = right, left ^ int.from_bytes(digest.digest(), "little")
        return (left << 32) | right


@dataclass(frozen=True, slots=True)
class Tally:
    """People (sorted pseudonyms) and how many times each did the thing."""

    people: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())


EMPTY = Tally(np.empty(0, IDS), np.empty(0, COUNTS))
Groups = dict[str, Tally]  # events: {"": tally}; messages: persona id -> tally


def pack(groups: Groups) -> list[Document]:
    return [
        {
            "g": group,
            "people": Binary(tally.people.astype(IDS).tobytes()),
            "counts": Binary(tally.counts.astype(COUNTS).tobytes()),
        }
        for group, tally in sorted(groups.items())
        if len(tally.people)
    ]


def unpack(doc: Document) -> Groups:
    return {
        str(g["g"]): Tally(np.frombuffer(g["people"], IDS), np.frombuffer(g["counts"], COUNTS))
        for g in doc.get("groups", [])
    }


async def forget_person(
    db: AsyncDatabase[Document], pseudonym: Callable[[int], str], user_id: int
) -> int:
    """Take the person, with their counts, out of every kept day; days kept under another key
    (before a key rotation) are dropped. Reads every kept day (a few MB a year at 10k people).
    Returns how many documents changed."""
    kept = db[c.ANALYTICS_PEOPLE]
    names = Pseudonyms(pseudonym)
    dropped = await kept.delete_many({"key": {"$ne": names.key_id}})
    person = np.uint64(names(user_id))
    changed = dropped.deleted_count
    async for doc in kept.find({}, projection={"groups": 1}):
        groups, hit = unpack(doc), False
        for group, tally in list(groups.items()):
            at = int(np.searchsorted(tally.people, person))
            if at < len(tally.people) and tally.people[at] == person:
                hit = True
                groups[group] = Tally(np.delete(tally.people, at), np.delete(tally.counts, at))
        if hit:
            await kept.update_one({"_id": doc["_id"]}, {"$set": {"groups": pack(groups)}})
            changed += 1
    return changed
