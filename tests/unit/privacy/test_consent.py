"""Onboarding and consent as a use case, without Telegram: nobody is stored before accepting,
accepting stores the person once (with the language they chose) and records it once."""

from __future__ import annotations

from datetime import UTC, datetime

from companion.domain.models import Event, EventName, User
from companion.privacy.consent import Onboarding

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Users:
    def __init__(self) -> None:
        self.stored: dict[int, User] = {}

    async def get(self, user_id: int) -> User | None:
        return self.stored.get(user_id)

    async def upsert(self, user: User) -> User:
        self.stored[user.id] = user.model_copy()
        return user

    async def update(self, user_id: int, **fields: object) -> User | None:
        user = self.stored.get(user_id)
        if user is None:
            return None
        self.stored[user_id] = user.model_copy(update=fields)
        return self.stored[user_id]


class Events:
    def __init__(self) -> None:
        self.recorded: list[Event] = []

    async def record(self, event: Event) -> None:
        self.recorded.append(event)


def _onboarding() -> tuple[Onboarding, Users, Events]:
    users, events = Users(), Events()
    return Onboarding(users, events, None, key_prefix="t", clock=lambda: NOW), users, events


async def test_accepting_stores_the_person_with_their_language_once() -> None:
    onboarding, users, events = _onboarding()
    person = User(id=7, language="en")
    assert await onboarding.accept_terms(person) is True
    assert users.stored[7].consent_at == NOW and users.stored[7].language == "en"
    assert person.consent_at == NOW
    assert [e.name for e in events.recorded] == [EventName.START, EventName.CONSENT]
    # A second tap on the same button changes nothing and records nothing.
    assert await onboarding.accept_terms(person) is False
    assert len(events.recorded) == 2


async def test_someone_stored_before_keeps_their_profile_and_gets_the_consent() -> None:
    onboarding, users, _ = _onboarding()
    users.stored[8] = User(id=8, language="ru", current_persona_id="anna")
    assert await onboarding.accept_terms(User(id=8, language="en"))
    assert users.stored[8].current_persona_id == "anna"
    assert users.stored[8].language == "en" and users.stored[8].consent_at == NOW


async def test_language_change_of_a_stored_person_and_no_counter_without_redis() -> None:
    onboarding, users, _ = _onboarding()
    users.stored[9] = User(id=9, language="ru", consent_at=NOW)
    await onboarding.set_language(9, "en")
    assert users.stored[9].language == "en"
    await onboarding.count_start()  # no Redis (the terminal chat): nothing to count, no error
