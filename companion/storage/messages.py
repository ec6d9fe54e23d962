"""Messages of a conversation, numbered by `seq`; the text is encrypted at rest."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

import bson
from bson.errors import InvalidDocument
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from companion.storage import collections as c
from companion.storage.crypto import FieldCipher
from companion.storage.documents import Document, bson_ready, new_id, storage_now, stored_copy
from companion.storage.models import (
    Conversation,
    Message,
    MessageRole,
    MessageSource,
    MessageStatus,
)

# Far below MongoDB's 16 MiB document limit; a chat message is never near it.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
# Conversations whose last seq this process remembers (a hint; see `MessageRepository._claim`).
_SEQ_HINTS = 4096
# Appends to one conversation are serialised by the per-user lock, so a claim rarely loses;
# this many losses in a row means something is wrong, not busy.
_CLAIM_ATTEMPTS = 50


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


class ConversationNotFoundError(LookupError):
    """A message was appended to a conversation that is not stored (erased, or never started)."""


class MessageRepository:
    """Implements `companion.dialogs.ports.MessageStore`."""

    def __init__(self, db: AsyncDatabase[Document], cipher: FieldCipher) -> None:
        self._messages = db[c.MESSAGES]
        self._conversations = db[c.CONVERSATIONS]
        self._cipher = cipher
        self._seq_hints: OrderedDict[str, int] = OrderedDict()

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
        `reserve` handed out for this conversation.

        The number comes from an atomic compare-and-set on the conversation's `last_seq`, so
        concurrent appends never share a seq. A crash between the claim and the insert leaves a
        gap, never a duplicate: seqs are strictly increasing, not necessarily contiguous.
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

        document["seq"] = seq if seq is not None else await self._claim(conversation, 1, now)
        await self._messages.insert_one(document)
        return message.model_copy(update={"seq": document["seq"]})

    async def reserve(self, conversation: Conversation, count: int) -> int:
        """Claim ``count`` consecutive seqs in one write; returns the first.

        For a turn: the user's message and the reply get their numbers together, which saves
        the reply a write. A reserved seq that is never used is a gap, like a crash leaves.
        """
        if count < 1:
            raise ValueError("reserve at least one seq")
        return await self._claim(conversation, count, storage_now())

    async def _claim(self, conversation: Conversation, count: int, now: datetime) -> int:
        """Advance the conversation's `last_seq` by ``count`` with a compare-and-set; returns
        the first of the claimed seqs.

        The expected value is this process's hint (or the conversation as read): the update
        only matches while `last_seq` still has it, so two appenders can never take the same
        seq; the loser re-reads and tries the next one. It is an indexed `update_one` by `_id`
        rather than `find_one_and_update`, which the embedded server (SecantusDB) answers with
        a scan of the whole collection (3 ms at 300 conversations, 25 ms at 3,000).
        """
        # Both are lower bounds of the stored value (it only grows); the larger is the better guess.
        expected = max(self._seq_hints.get(conversation.id, 0), conversation.last_seq)
        for _ in range(_CLAIM_ATTEMPTS):
            # `None` also matches a document stored before `last_seq` existed.
            current: object = {"$in": [0, None]} if expected == 0 else expected
            result = await self._conversations.update_one(
                {"_id": conversation.id, "last_seq": current},
                {"$set": {"last_seq": expected + count, "updated_at": now}},
            )
            if result.matched_count == 1:
                self._remember_seq(conversation.id, expected + count)
                return expected + 1
            stored = await self._conversations.find_one(
                {"_id": conversation.id}, projection={"last_seq": True}
            )
            if stored is None:
                self._seq_hints.pop(conversation.id, None)
                raise ConversationNotFoundError(f"conversation {conversation.id} is not stored")
            expected = int(stored.get("last_seq") or 0)
        raise RuntimeError(
            f"could not number a message of conversation {conversation.id}: "
            f"{_CLAIM_ATTEMPTS} concurrent appends won in a row"
        )

    def _remember_seq(self, conversation_id: str, seq: int) -> None:
        self._seq_hints[conversation_id] = seq
        self._seq_hints.move_to_end(conversation_id)
        while len(self._seq_hints) > _SEQ_HINTS:
            self._seq_hints.popitem(last=False)

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

        Reads backwards from the conversation's last seq in bounded seq windows rather than
        asking the server to sort: the embedded server (SecantusDB) answers an equality + seq
        range from the index, but a sort with a limit makes it read the whole conversation.
        ``last_seq``: the conversation's `last_seq` as the caller has just read it (saves a
        read); it must not be older than the newest message wanted.
        """
        if limit <= 0:
            return []
        if last_seq is None:
            counter = await self._conversations.find_one(
                {"_id": conversation_id}, projection={"last_seq": True}
            )
            if counter is None:
                # Messages without their conversation (e.g. mid-erase): nothing to continue.
                return []
            last_seq = int(counter.get("last_seq", 0))
        upper = last_seq
        # Interrupted messages and seq gaps are rare: a small margin usually needs one read.
        window = limit + 8
        collected: list[Document] = []
        while upper > after_seq and len(collected) < limit:
            lower = max(after_seq, upper - window)
            batch = [
                document
                async for document in self._messages.find(seq_window(conversation_id, lower, upper))
                if document.get("status") == MessageStatus.COMPLETE.value
            ]
            collected.extend(batch)
            upper, window = lower, window * 2
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
