"""The dialogue's two touch points with mood (companion.mood), both optional and both unable
to stop a reply: the care flag read before the prompt, the observer told after the reply."""

from __future__ import annotations

import logging

from companion.domain.models import Conversation, User
from companion.domain.personas import Persona
from companion.domain.ports import MessageObserver, MoodCareSource

log = logging.getLogger(__name__)


class MoodHooks:
    def __init__(self, observer: MessageObserver | None, care: MoodCareSource | None) -> None:
        self._observer = observer
        self._care = care

    async def needs_care(self, user: User) -> bool:
        if self._care is None:
            return False
        try:
            return await self._care.needs_care(user)
        except Exception:
            # Care makes replies kinder; it must never stop one.
            log.exception("mood care check failed for user %s", user.id)
            return False

    def observe(self, user: User, persona: Persona, conversation: Conversation, text: str) -> None:
        if self._observer is None:
            return
        try:
            self._observer.observe(user, persona, conversation, text)
        except Exception:
            log.exception("message observer failed for user %s", user.id)
