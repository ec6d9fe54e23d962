"""Conversations' `last_seq` and `updated_at`, written behind by the message store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from companion.storage.documents import Document

log = logging.getLogger(__name__)


class ConversationTouches:
    """Conversations' `last_seq` and `updated_at`, written behind: coalesced per conversation
    and sent as one unordered bulk of `$max` updates every `delay_s` while there are any.

    `$max` makes the writes commutative, so a late or repeated one never moves a conversation
    back. A lost one (crash) only makes the next tail read start a little earlier.

    A touch that matches no conversation means it was erased (/forget) while a message was
    being stored: those messages are deleted here. That is a safety net (a message is followed
    by a touch only now and then); what keeps a reply from outliving an erase is that the
    erase takes the user's dialogue lock (`UserDataService`).
    """

    def __init__(
        self,
        conversations: AsyncCollection[Document],
        messages: AsyncCollection[Document],
        delay_s: float,
    ) -> None:
        self._conversations = conversations
        self._messages = messages
        self._delay_s = delay_s
        self._pending: dict[str, tuple[int, datetime]] = {}
        self._runner: asyncio.Task[None] | None = None

    def add(self, conversation_id: str, seq: int, at: datetime) -> None:
        known = self._pending.get(conversation_id)
        if known is not None:
            seq, at = max(seq, known[0]), max(at, known[1])
        self._pending[conversation_id] = (seq, at)
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="conversation-touches")

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            result = await self._conversations.bulk_write(
                [
                    UpdateOne({"_id": cid}, {"$max": {"last_seq": seq, "updated_at": at}})
                    for cid, (seq, at) in pending.items()
                ],
                ordered=False,
            )
            if result.matched_count < len(pending):
                await self._remove_orphans(list(pending))
        except PyMongoError:
            # Hints only (see the class docstring): worth a warning, not a failed reply.
            log.warning("could not record the last seq of %d conversation(s)", len(pending))

    async def _remove_orphans(self, conversation_ids: list[str]) -> None:
        existing = {
            document["_id"]
            async for document in self._conversations.find(
                {"_id": {"$in": conversation_ids}}, projection={"_id": True}
            )
        }
        gone = [cid for cid in conversation_ids if cid not in existing]
        if gone:
            result = await self._messages.delete_many({"conversation_id": {"$in": gone}})
            log.info(
                "deleted %d message(s) stored after their conversation was erased",
                result.deleted_count,
            )

    async def _run(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(self._delay_s)
                await self.flush()
        finally:
            self._runner = None
