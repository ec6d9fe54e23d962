"""What the Telegram front-end needs from the rest of the service, and how it reaches handlers.

The composition root builds one `BotDeps`; `build_dispatcher` passes its fields to aiogram's
dispatcher, so every handler can ask for them by name (``dialogs``, ``users``, ``user_data``,
``personas``, ``memory``, ``events``, ``translator``, ``tg_settings``, ``replier``, ``photos``,
``throttle``...) plus whatever `extra` holds (the billing and voice routers' services).
The middlewares add ``user`` (`User`, possibly not stored yet), ``i18n`` (`I18n`) and
``trace_id`` per update.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis

from companion.config import TelegramSettings
from companion.dialogs.events import DialogEvent
from companion.domain.models import MessageSource, User
from companion.domain.personas import Persona
from companion.domain.ports import EventSink, PersonaCatalog
from companion.i18n import Translator


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


# Called with the user id by /forget: `before_erasure_hooks` before anything is erased (stopping
# subscription renewals, which would outlive the data; if one raises, nothing is erased and the
# user is asked to try again later), `erasure_hooks` after the database is erased (memory
# caches, billing caches...).
ErasureHook = Callable[[int], Awaitable[object]]


@dataclass(slots=True)
class BotDeps:
    settings: TelegramSettings
    translator: Translator
    dialogs: Dialogs
    users: Users
    user_data: UserData
    personas: PersonaCatalog
    redis: Redis
    key_prefix: str = "companion"
    default_language: str = "ru"
    memory: MemoryFacts | None = None
    events: EventSink | None = None
    before_erasure_hooks: Sequence[ErasureHook] = ()
    erasure_hooks: Sequence[ErasureHook] = ()
    # Anything else handlers of other routers need, by name (billing, transcriber...).
    extra: dict[str, object] = field(default_factory=dict)
