"""Policies on stored data: the crisis guard sends only the reviewed template, silence
check-ins follow the last exchange, quiet hours defer to the user's morning, and the
scheduler loop starts and stops within its bound."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from companion.domain.models import Conversation, Event, EventName, UserSettings
from companion.i18n import Translator
from companion.outreach.jobs import JobState
from companion.outreach.store import event_key, silence_key
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.outreach.conftest import START, StoredFact, World


async def schedule_exam(world: World, user_id: int) -> None:
    store = world.make_worker()[2]
    await store.schedule_event(
        user_id=user_id,
        persona_id="anna",
        fact_id=f"f{user_id}",
        event_date=date(2026, 12, 7),
        due_at=START,
        now=START,
    )


async def test_after_a_crisis_only_the_reviewed_template_is_sent(
    world: World, llm: OpenAIEmulator
) -> None:
    user_id = 9001
    await world.person(user_id)
    world.exam(user_id)
    await world.events.record(
        Event(user_id=user_id, name=EventName.CRISIS.value, at=START - timedelta(days=2))
    )
    await schedule_exam(world, user_id)
    scheduler, sender, _ = world.make_worker()
    asked_before = len(llm.chat_requests)

    assert await scheduler.run_once() == {"sent": 1}

    template = Translator().get("en", "outreach-after-crisis", address="ty")
    assert sender.sent == [(user_id, template)]
    assert len(llm.chat_requests) == asked_before  # the model was never asked


async def test_a_forgotten_fact_is_not_followed_up(world: World) -> None:
    user_id = 9002
    await world.person(user_id)
    await schedule_exam(world, user_id)  # planned, then the user deleted the fact
    scheduler, sender, store = world.make_worker()
    assert await scheduler.run_once() == {"skipped:fact_gone": 1}
    assert sender.sent == []
    job = await store.get(event_key(user_id, f"f{user_id}"))
    assert job is not None and job.state is JobState.SKIPPED and job.reason == "fact_gone"


async def test_silence_check_in_follows_the_last_exchange(world: World) -> None:
    user_id = 9003
    user = await world.person(user_id, settings=UserSettings(timezone="Europe/Moscow"))
    scheduler, sender, store = world.make_worker()
    service = scheduler.service  # activity comes from the dialogue's after-reply hook
    await service.record_activity(user, "anna")

    world.clock.advance(days=3, hours=23)
    assert await scheduler.run_once() == {}
    # The user wrote again: the silence is counted from then.
    await service.record_activity(user, "anna")
    world.clock.advance(days=3, hours=23)
    assert await scheduler.run_once() == {}
    world.clock.advance(hours=2)
    assert await scheduler.run_once() == {"sent": 1}
    assert [u for u, _ in sender.sent] == [user_id]
    job = await store.get(silence_key(user_id))
    assert job is not None and job.state is JobState.SENT
    # No reply: no second note a few days later.
    world.clock.advance(days=5)
    assert await scheduler.run_once() == {}


async def test_a_chat_writes_its_activity_once_a_minute(world: World) -> None:
    """Each reply tells check-ins the user talked; a chat of many messages is one write a
    minute, and its facts are planned only after the last skipped exchange was learnt."""
    user_id = 9006
    user = await world.person(user_id, settings=UserSettings(timezone="Europe/Moscow"))
    scheduler, _, _ = world.make_worker()
    service = scheduler.service
    conversation = Conversation(id="c9006", user_id=user_id, persona_id="anna")

    async def written() -> datetime | None:
        await service.drain()
        raw = await world.db["outreach_jobs"].find_one({"_id": f"activity:{user_id}"})
        return None if raw is None else raw["last_at"]

    service.note_exchange(user, conversation)
    first = await written()
    assert first is not None
    world.clock.advance(seconds=30)
    service.note_exchange(user, conversation)  # within the minute: nothing written
    assert await written() == first
    world.clock.advance(seconds=31)
    service.note_exchange(user, conversation)
    later = await written()
    assert later is not None and later > first
    raw = await world.db["outreach_jobs"].find_one({"_id": f"activity:{user_id}"})
    assert raw is not None
    # Planned after memory's delay plus the minute whose exchanges were not written.
    assert raw["plan_at"] >= later + timedelta(seconds=150 + 60) - timedelta(seconds=1)


async def test_quiet_hours_defer_to_the_users_morning(world: World) -> None:
    user_id = 9004
    await world.person(user_id, settings=UserSettings(timezone="Asia/Tokyo"))
    world.exam(user_id)
    await schedule_exam(world, user_id)
    world.clock.current = START + timedelta(hours=14)  # 23:00 UTC = 08:00 Tokyo: quiet
    scheduler, sender, store = world.make_worker()

    assert await scheduler.run_once() == {"deferred:quiet_hours": 1}
    job = await store.get(event_key(user_id, f"f{user_id}"))
    assert job is not None and job.due_at == START + timedelta(hours=15)  # 09:00 Tokyo
    assert sender.sent == []
    world.clock.advance(hours=1)
    assert await scheduler.run_once() == {"sent": 1}


async def test_the_loop_runs_due_jobs_and_stops_within_its_bound(world: World) -> None:
    user_id = 9005
    await world.person(user_id)
    world.exam(user_id)
    await schedule_exam(world, user_id)
    scheduler, sender, _ = world.make_worker()

    scheduler.start()
    for _ in range(200):
        if sender.sent:
            break
        await asyncio.sleep(0.05)
    await asyncio.wait_for(scheduler.stop(), 15)
    assert [u for u, _ in sender.sent] == [user_id]
    assert not scheduler.running


async def test_a_pro_persona_does_not_write_once_pro_is_gone(world: World) -> None:
    user_id = 9006
    await world.person(user_id, "lily", adult_confirmed_at=START - timedelta(days=40))
    store = world.make_worker()[2]
    world.facts.by_user[user_id] = [
        StoredFact("f9006", "The user has a date", date(2026, 12, 7), "lily", START)
    ]
    await store.schedule_event(
        user_id=user_id,
        persona_id="lily",
        fact_id="f9006",
        event_date=date(2026, 12, 7),
        due_at=START,
        now=START,
    )
    scheduler, sender, _ = world.make_worker()
    assert await scheduler.run_once() == {"skipped:no_access": 1}
    assert sender.sent == []
