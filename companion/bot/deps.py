"""The parts of the service's use cases the Telegram front-end calls, as Protocols.

They are the types of `companion.bot.services.BotServices` (what handlers receive by name),
narrow so that a test or a benchmark can stand in for one service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from companion.dialogs.events import DialogEvent
from companion.domain.models import MessageSource, User
from companion.domain.personas import Persona


class StartedConversation(Protocol):
    """The parts of `companion.dialogs.service.StartResult` the bot renders."""

    @property
    def persona(self) -> Persona: ...
    @property
    def resumed(self) -> bool: ...
    @property
    def greeting(self) -> str | None: ...
    @property
    def notices(self) -> Sequence[Any]: ...


class Dialogs(Protocol):
    """`companion.dialogs.service.DialogService`."""

    async def start(
        self, user: User, persona_id: str, *, fresh: bool = False
    ) -> StartedConversation: ...

    def reply(
        self, user: User, persona_id: str, text: str, *, source: MessageSource = ...
    ) -> AsyncIterator[DialogEvent]: ...


class Users(Protocol):
    """`companion.storage.users.UserRepository` (usually behind `CachedUserStore`)."""

    async def get(self, user_id: int) -> User | None: ...
    async def upsert(self, user: User) -> User: ...
    async def update(self, user_id: int, **fields: object) -> User | None: ...


class UserData(Protocol):
    """`companion.storage.user_data.UserDataService`."""

    async def export(self, user_id: int) -> dict[str, Any]: ...
    async def erase(self, user_id: int) -> dict[str, int]: ...


class Fact(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...


class MemoryFacts(Protocol):
    """The part of the memory service behind /memory."""

    async def list_facts(self, user_id: int) -> Sequence[Fact]: ...
    async def delete_fact(self, user_id: int, fact_id: str) -> bool: ...
    async def edit_fact(self, user_id: int, fact_id: str, text: str) -> Fact | None: ...
