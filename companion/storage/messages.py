"""Messages of a conversation, numbered by `seq`; the text is encrypted at rest."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from datetime import datetime
from typing import TypeVar

import bson
from bson.errors import InvalidDocument
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from companion.domain.models import (
    Conversation,
    Message,
    MessageRole,
    MessageSource,
    MessageStatus,
)
from companion.storage import collections as c
from companion.storage.batching import GroupCommit, bulk_outcomes
from companion.storage.crypto import FieldCipher
from companion.storage.documents import Document, bson_ready, new_id, storage_now, stored_copy
from companion.storage.touches import ConversationTouches

# Far below MongoDB's 16 MiB document limit; a chat message is never near it.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
# Conversations whose last seq this process remembers (a hint; see `MessageRepository._claim`).
_SEQ_HINTS = 4096
# Appends to one conversation are serialised by the per-user lock, so a proposed seq is rarely
# taken; this many losses in a row means something is wrong, not busy.
_CLAIM_ATTEMPTS = 50
# How far below a known seq a tail read starts.
_TAIL_WINDOW = 64
# A conversation's `last_seq`/`updated_at` are written when this process first stores a message
# in it, then once its seq moved this far or this much time passed. Updates are the embedded
# server's costliest write (the `updated_at` index too); the tail read looks past `last_seq`.
_TOUCH_EVERY_SEQS = 16
_TOUCH_EVERY_S = 60.0

log = logging.getLogger(__name__)

T = TypeVar("T")


class UnstorableMessageError(ValueError):
    """The message cannot be stored as it is (invalid Unicode, unencodable meta, too large)."""


def _check_storable(document: Document) -> None:
    """Fail before anything is written, so a bad message never costs a seq or a half-write."""
    try:
        size = len(bson.encode(document))
    except (InvalidDocument, UnicodeEncodeError) as exc:
        raise UnstorableMessageError(f"message cannot be stored: {exc}") from exc
    if size > MAX_DOCUMENT_BYTES:
        raise UnstorableMessageError(
            f"message cannot be stored: {size} bytes is over the {MAX_DOCUMENT_BYTES} limit"
        )


def seq_window(conversation_id: str, after_seq: int, upto_seq: int) -> Document:
    """Messages of a conversation with after_seq < seq <= upto_seq (an index range scan)."""
    return {"conversation_id": conversation_id, "seq": {"$gt": after_seq, "$lte": upto_seq}}


def _remember(cache: OrderedDict[str, T], key: str, value: T) -> None:
    """Put `key` into a per-conversation cache of at most `_SEQ_HINTS` entries, newest last."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _SEQ_HINTS:
        cache.popitem(last=False)


class ConversationNotFoundError(LookupError):
    """A message was appended to a conversation that is not stored (erased, or never started)."""


class MessageRepository:
    """Implements `companion.domain.ports.MessageStore`.

    Numbering: a message's `seq` is proposed by this process (one more than the largest seq it
    knows for the conversation) and made unique by the unique (conversation_id, seq) index: a
    proposal another writer took already fails on insert, the repository reads the real last
    seq and tries the next. Appends of one conversation are serialised by the per-user lock,
    so that is rare (another worker, an expired lock); numbering costs no write of its own.
    The conversation's `last_seq` and `updated_at` are written behind, coalesced
    (`ConversationTouches`) and only now and then (`_TOUCH_EVERY_*`): `last_seq` is where
    reading the tail starts, not the truth, and readers look past it; the tail read also tells
    the process the real last seq, so a worker that did not store the previous turn still
    proposes a free one.

    Inserts of concurrent appends share one `insert_many` (`GroupCommit`). Call `aclose` on
    shutdown so the last touches are written.
    """

    def __init__(
        self, db: AsyncDatabase[Document], cipher: FieldCipher, *, touch_delay_s: float = 0.05
    ) -> None:
        self._messages = db[c.MESSAGES]
        self._conversations = db[c.CONVERSATIONS]
        self._cipher = cipher
        self._seq_hints: OrderedDict[str, int] = OrderedDict()
        # Per conversation: the seq and monotonic time of this process's last touch.
        self._touched: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._inserts: GroupCommit[Document] = GroupCommit(self._insert_batch, name="messages")
        self._touches = ConversationTouches(self._conversations, self._messages, touch_delay_s)

    async def aclose(self) -> None:
        await self._inserts.drain()
        await self._touches.close()

    async def flush(self) -> None:
        """Write the pending conversation touches now (tests, shutdown)."""
        await self._touches.flush()

    async def append(
        self,
        conversation: Conversation,
        role: MessageRole,
        text: str,
        *,
        source: MessageSource = MessageSource.TEXT,
        status: MessageStatus = MessageStatus.COMPLETE,
        meta: dict[str, object] | None = None,
        seq: int | None = None,
    ) -> Message:
        """Store one message with the next `seq` of its conversation, or with ``seq``, one that
        `reserve` handed out for this conversation (if another writer took it meanwhile, the
        message gets the next free one: seqs stay unique and increasing, never shared).

        A crash or a failed write leaves a gap, never a duplicate: seqs are strictly
        increasing, not necessarily contiguous.
        """
        now = storage_now()
        message = stored_copy(
            Message(
                id=new_id(),
                conversation_id=conversation.id,
                user_id=conversation.user_id,
                persona_id=conversation.persona_id,
                seq=0,  # assigned below, once the document is known to be storable
                role=role,
                text=text,
                source=source,
                status=status,
                created_at=now,
                meta=dict(meta or {}),
            )
        )
        document: Document = bson_ready(message.model_dump(mode="python"))
        document["_id"] = document.pop("id")
        _check_storable(document)
        document["text"] = self._cipher.encrypt(text)

        proposed = seq if seq is not None else self._allocate(conversation, 1)
        for _ in range(_CLAIM_ATTEMPTS):
            document["seq"] = proposed
            try:
                await self._inserts.submit(document)
            except DuplicateKeyError:
                # Another writer has this seq: continue after the last one really stored.
                stored = await self._stored_last_seq(conversation.id)
                self._raise_hint(conversation.id, stored)
                proposed = self._allocate(conversation, 1)
                continue
            self._raise_hint(conversation.id, proposed)
            self._touch(conversation.id, proposed, now)
            return message.model_copy(update={"seq": proposed})
        raise RuntimeError(
            f"could not number a message of conversation {conversation.id}: "
            f"{_CLAIM_ATTEMPTS} concurrent appends won in a row"
        )

    async def reserve(self, conversation: Conversation, count: int) -> int:
        """Set aside ``count`` consecutive seqs; returns the first. Nothing is written.

        For a turn: the user's message and the reply get their numbers together. A reserved
        seq that is never used is a gap, like a crash leaves.
        """
        if count < 1:
            raise ValueError("reserve at least one seq")
        return self._allocate(conversation, count)

    def _allocate(self, conversation: Conversation, count: int) -> int:
        """The next ``count`` seqs as this process knows them; synchronous, so concurrent
        appends in one process never propose the same seq."""
        # Both are lower bounds of the stored value (it only grows); the larger is the better guess.
        last = max(self._seq_hints.get(conversation.id, 0), conversation.last_seq)
        self._raise_hint(conversation.id, last + count)
        return last + 1

    def _touch(self, conversation_id: str, seq: int, now: datetime) -> None:
        touched = self._touched.get(conversation_id)
        moment = time.monotonic()
        if (
            touched is not None
            and seq - touched[0] < _TOUCH_EVERY_SEQS
            and moment - touched[1] < _TOUCH_EVERY_S
        ):
            return
        _remember(self._touched, conversation_id, (seq, moment))
        self._touches.add(conversation_id, seq, now)

    def _raise_hint(self, conversation_id: str, seq: int) -> None:
        _remember(
            self._seq_hints, conversation_id, max(seq, self._seq_hints.get(conversation_id, 0))
        )

    async def _stored_last_seq(self, conversation_id: str) -> int:
        """The largest seq stored for the conversation (an index range read from the hint)."""
        if await self._conversations.find_one({"_id": conversation_id}, {"_id": True}) is None:
            self._seq_hints.pop(conversation_id, None)
            self._touched.pop(conversation_id, None)
            raise ConversationNotFoundError(f"conversation {conversation_id} is not stored")
        lower = max(0, self._seq_hints.get(conversation_id, 0) - _TAIL_WINDOW)
        while True:
            seqs = [
                int(document["seq"])
                async for document in self._messages.find(
                    {"conversation_id": conversation_id, "seq": {"$gt": lower}},
                    projection={"seq": True, "_id": False},
                )
            ]
            if seqs or lower == 0:
                return max(seqs, default=0)
            lower = max(0, lower - _TAIL_WINDOW)

    async def _insert_batch(self, documents: list[Document]) -> list[BaseException | None]:
        try:
            await self._messages.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            return bulk_outcomes(len(documents), exc)
        return [None] * len(documents)

    async def get(self, message_id: str) -> Message | None:
        document = await self._messages.find_one({"_id": message_id})
        return None if document is None else self._to_model(document)

    async def recent(
        self,
        conversation_id: str,
        limit: int,
        *,
        after_seq: int = 0,
        last_seq: int | None = None,
    ) -> list[Message]:
        """The last `limit` complete messages with seq > after_seq, oldest first.

        Reads from near the end of the conversation: everything after (last known seq - a
        margin), then further back in growing seq windows if that was not enough. It never asks
        the server to sort: the embedded server (SecantusDB) answers an equality + seq range
        from the index, but a sort with a limit makes it read the whole conversation.
        ``last_seq``: the conversation's `last_seq` as the caller has just read it, a starting
        point only (messages stored after it are returned too).
        """
        if limit <= 0:
            return []
        known = max(last_seq or 0, self._seq_hints.get(conversation_id, 0))
        if last_seq is None and known == 0:
            counter = await self._conversations.find_one(
                {"_id": conversation_id}, projection={"last_seq": True}
            )
            if counter is None:
                # Messages without their conversation (e.g. mid-erase): nothing to continue.
                return []
            known = int(counter.get("last_seq") or 0)
        # Interrupted messages and seq gaps are rare: a small margin usually needs one read.
        window = limit + 8
        lower = max(after_seq, known - window)
        query: Document = {"conversation_id": conversation_id, "seq": {"$gt": lower}}
        collected: list[Document] = []
        newest = 0
        while True:
            for document in [document async for document in self._messages.find(query)]:
                newest = max(newest, int(document["seq"]))
                if document.get("status") == MessageStatus.COMPLETE.value:
                    collected.append(document)
            if lower <= after_seq or len(collected) >= limit:
                break
            window *= 2
            upper, lower = lower, max(after_seq, lower - window)
            query = seq_window(conversation_id, lower, upper)
        if newest:
            self._raise_hint(conversation_id, newest)
        collected.sort(key=lambda document: int(document["seq"]))
        return [self._to_model(document) for document in collected[-limit:]]

    async def history(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        upto_seq: int | None = None,
        limit: int = 0,
        complete_only: bool = False,
    ) -> list[Message]:
        """Messages with after_seq < seq <= upto_seq, oldest first (`limit` 0: all)."""
        seq_range: Document = {"$gt": after_seq}
        if upto_seq is not None:
            seq_range["$lte"] = upto_seq
        # Range only, filtered and ordered here: the form the embedded server serves from the
        # index (see `recent`).
        documents = [
            document
            async for document in self._messages.find(
                {"conversation_id": conversation_id, "seq": seq_range}
            )
            if not complete_only or document.get("status") == MessageStatus.COMPLETE.value
        ]
        documents.sort(key=lambda document: int(document["seq"]))
        if limit > 0:
            documents = documents[:limit]
        return [self._to_model(document) for document in documents]

    async def for_user(self, user_id: int, *, limit: int = 0) -> list[Message]:
        """Every message of the user across conversations, oldest first (`limit` 0: all)."""
        cursor = (
            self._messages.find({"user_id": user_id})
            .sort([("created_at", ASCENDING), ("seq", ASCENDING)])
            .limit(limit)
        )
        return [self._to_model(document) async for document in cursor]

    async def count(self, conversation_id: str, *, complete_only: bool = False) -> int:
        query: Document = {"conversation_id": conversation_id}
        if complete_only:
            query["status"] = MessageStatus.COMPLETE.value
        return await self._messages.count_documents(query)

    async def set_status(self, message_id: str, status: MessageStatus) -> bool:
        result = await self._messages.update_one(
            {"_id": message_id}, {"$set": {"status": status.value}}
        )
        return result.matched_count == 1

    def _to_model(self, document: Document) -> Message:
        data = dict(document)
        data["id"] = data.pop("_id")
        data["text"] = self._cipher.decrypt(data["text"])
        return Message.model_validate(data)
