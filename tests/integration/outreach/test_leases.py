"""Exactly once across workers, and what a crash leaves, with the real MongoDB-wire server."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta

from companion.config import OutreachSettings
from companion.domain.models import MessageRole
from companion.outreach.jobs import JobState
from companion.outreach.store import event_key
from tests.integration.outreach.conftest import START, World

USERS = range(5001, 5021)


async def plan_exams(world: World) -> None:
    for user_id in USERS:
        await world.person(user_id)
        world.exam(user_id)
    store = world.make_worker()[2]
    for user_id in USERS:
        await store.schedule_event(
            user_id=user_id,
            persona_id="anna",
            fact_id=f"f{user_id}",
            event_date=date(2026, 12, 7),
            due_at=START,
            now=START,
        )


async def checkins_in_history(world: World, user_id: int) -> int:
    conversation = await world.conversations.get_active(user_id, "anna")
    assert conversation is not None
    lines = await world.messages.recent(conversation.id, 50)
    return sum(1 for m in lines if m.role is MessageRole.ASSISTANT and "checkin" in m.meta)


async def test_two_workers_racing_send_each_job_exactly_once(world: World) -> None:
    await plan_exams(world)
    (one, sent_one, _), (two, sent_two, store) = world.make_worker(), world.make_worker()

    outcomes = await asyncio.gather(one.run_once(), two.run_once(), one.run_once())

    delivered = Counter(user_id for user_id, _ in sent_one.sent + sent_two.sent)
    assert delivered == Counter({user_id: 1 for user_id in USERS})
    assert sum(o.get("sent", 0) for o in outcomes) == len(USERS)
    for user_id in USERS:
        job = await store.get(event_key(user_id, f"f{user_id}"))
        assert job is not None and job.state is JobState.SENT
        assert await checkins_in_history(world, user_id) == 1
    # Nothing is left to claim: another tick sends nothing.
    assert await two.run_once() == {}


async def test_a_worker_that_dies_holding_a_lease_is_taken_over_once(world: World) -> None:
    user_id = 6001
    await world.person(user_id)
    world.exam(user_id)
    (_, _, dead_store), (alive, sent, store) = world.make_worker(), world.make_worker()
    await store.schedule_event(
        user_id=user_id,
        persona_id="anna",
        fact_id=f"f{user_id}",
        event_date=date(2026, 12, 7),
        due_at=START,
        now=START,
    )
    # The first worker claims the job and dies (say, while the model was writing).
    held = await dead_store.claim(world.clock.now(), lease_s=300)
    assert held is not None

    # While the lease runs, nobody else may take it.
    assert await alive.run_once() == {}
    assert sent.sent == []

    world.clock.advance(seconds=301)
    assert await alive.run_once() == {"sent": 1}
    assert [user for user, _ in sent.sent] == [user_id]
    # The dead worker's lease is gone: if it woke up, it could not send it again.
    assert not await dead_store.mark_sending(held, world.clock.now())
    assert await alive.run_once() == {}
    assert len(sent.sent) == 1
    assert await checkins_in_history(world, user_id) == 1


async def test_a_crash_between_the_send_marks_never_resends(world: World) -> None:
    user_id = 6002
    await world.person(user_id)
    world.exam(user_id)
    (_, _, dead_store), (alive, sent, store) = world.make_worker(), world.make_worker()
    await store.schedule_event(
        user_id=user_id,
        persona_id="anna",
        fact_id=f"f{user_id}",
        event_date=date(2026, 12, 7),
        due_at=START,
        now=START,
    )
    held = await dead_store.claim(world.clock.now(), lease_s=300)
    assert held is not None and await dead_store.mark_sending(held, world.clock.now())
    # ...and the process died: Telegram may or may not have delivered it.

    world.clock.advance(seconds=301)
    assert await alive.run_once() == {}
    job = await store.get(held.id)
    assert job is not None and job.state is JobState.UNKNOWN
    assert sent.sent == []


async def test_the_weekly_cap_holds_when_workers_race_for_the_last_slots(world: World) -> None:
    store = world.make_worker()[2]
    now = world.clock.now()
    taken = await asyncio.gather(*(store.reserve_slot(7001, now, cap=2) for _ in range(10)))
    assert taken.count(True) == 2
    # A week later the slots are free again.
    later = now + timedelta(days=7, seconds=1)
    assert await store.reserve_slot(7001, later, cap=2)


async def test_the_cap_skips_the_third_check_in_of_a_week(world: World) -> None:
    scheduler, sent, store = world.make_worker(OutreachSettings(max_per_week=2))
    user_id = 7002
    await world.person(user_id)
    for n, day in enumerate((7, 8, 9)):
        fact_id = f"cap{n}"
        world.exam(user_id, on=date(2026, 12, day), fact_id=fact_id)
        await store.schedule_event(
            user_id=user_id,
            persona_id="anna",
            fact_id=fact_id,
            event_date=date(2026, 12, day),
            due_at=START + timedelta(days=n),
            now=START,
        )
    results = []
    for _ in range(3):
        results.append(await scheduler.run_once())
        world.clock.advance(days=1)
    assert results == [{"sent": 1}, {"sent": 1}, {"skipped:weekly_cap": 1}]
    assert len(sent.sent) == 2
