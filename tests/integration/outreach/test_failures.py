"""Failures while writing or sending: what is retried, what is never resent."""

from __future__ import annotations

from datetime import date

from companion.domain.ports import SendOutcome
from companion.outreach.jobs import JobState
from companion.outreach.store import event_key
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.outreach.conftest import START, World


async def planned(world: World, user_id: int) -> str:
    await world.person(user_id)
    world.exam(user_id)
    await world.make_worker()[2].schedule_event(
        user_id=user_id,
        persona_id="anna",
        fact_id=f"f{user_id}",
        event_date=date(2026, 12, 7),
        due_at=START,
        now=START,
    )
    return event_key(user_id, f"f{user_id}")


async def test_telegram_refusing_is_retried_and_then_delivered_once(world: World) -> None:
    job_id = await planned(world, 9101)
    scheduler, sender, store = world.make_worker()
    sender.failures = [SendOutcome.FAILED]

    assert await scheduler.run_once() == {"retry:sending": 1}
    assert sender.sent == []
    job = await store.get(job_id)
    assert job is not None and job.state is JobState.PENDING
    # The slot it had taken is given back: the retry may use it.
    assert await store.sent_in_week(9101, world.clock.now()) == []

    world.clock.advance(minutes=31)
    assert await scheduler.run_once() == {"sent": 1}
    assert [user for user, _ in sender.sent] == [9101]


async def test_no_answer_from_telegram_is_never_resent(world: World) -> None:
    job_id = await planned(world, 9102)
    scheduler, sender, store = world.make_worker()
    sender.failures = [TimeoutError("no answer")]  # maybe delivered, maybe not

    assert await scheduler.run_once() == {"error": 1}
    world.clock.advance(minutes=6)  # the lease ends
    assert await scheduler.run_once() == {}
    job = await store.get(job_id)
    assert job is not None and job.state is JobState.UNKNOWN
    assert sender.sent == []


async def test_a_model_that_keeps_failing_gives_up_after_three_tries(
    world: World, llm: OpenAIEmulator
) -> None:
    job_id = await planned(world, 9103)
    scheduler, sender, store = world.make_worker()
    llm.fail_next(10)
    outcomes = []
    for _ in range(3):
        outcomes.append(await scheduler.run_once())
        world.clock.advance(minutes=31)
    assert outcomes == [{"retry:writing": 1}, {"retry:writing": 1}, {"skipped:failed": 1}]
    job = await store.get(job_id)
    assert job is not None and job.state is JobState.SKIPPED and job.reason == "failed"
    assert sender.sent == []
