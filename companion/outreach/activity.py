"""Telling check-ins the user talked, on the dialogue service's after-reply hook.

The dialogue service calls its `MemoryWriter` once after every completed exchange; this wraps
the real one (or none, with memory off) and also tells `OutreachService`, so neither the
dialogue service nor memory knows about check-ins.
"""

from __future__ import annotations

from companion.domain.models import Conversation, User
from companion.domain.ports import MemoryWriter
from companion.outreach.service import OutreachService


class ActivityTap:
    def __init__(self, inner: MemoryWriter | None, service: OutreachService) -> None:
        self._inner = inner
        self._service = service

    def schedule_extraction(self, user: User, conversation: Conversation) -> None:
        if self._inner is not None:
            self._inner.schedule_extraction(user, conversation)
        self._service.note_exchange(user, conversation)
