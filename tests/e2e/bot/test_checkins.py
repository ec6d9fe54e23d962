"""Check-ins through the real bot: memory learns "exam tomorrow" from the conversation (the
model emulator answers extraction with scripted JSON), a hand-moved clock reaches the
event's evening in the user's zone, and the persona's follow-up arrives over the Bot API;
/checkins off and a blocked bot get nothing.

The scheduler's ticks are run by the test (`run_once`) rather than on its timer, so each step
happens when the clock says so and not when a sleep ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from companion.config import MemorySettings, Settings
from companion.domain.models import MessageRole
from companion.outreach.jobs import CheckinJob, JobKind, JobState
from companion.outreach.wiring import OutreachComponents
from tests.e2e.bot.conftest import BotHarness, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator, TelegramUser

TOKYO = ZoneInfo("Asia/Tokyo")
FOLLOW_UP = "Hey, it's Anna! How did your exam go?"


class ManualClock:
    def __init__(self) -> None:
        self.current = datetime.now(UTC)

    def now(self) -> datetime:
        return self.current


def scripted_model(body: dict[str, Any]) -> str:
    """Extraction gets one dated fact, reconciliation "add", the check-in prompt the
    follow-up, and chat the same short reply."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    if schema == "memory_facts":
        fact = {
            "text": "The user has a maths exam",
            "category": "events",
            "importance": 4,
            "when": "tomorrow",
        }
        return json.dumps({"facts": [fact]})
    if schema is not None:
        return '{"action": "add", "target": null}'
    if "# What to do now" in str(body["messages"][0]["content"]):
        return FOLLOW_UP
    return "Good luck, you will do great!"


@dataclass
class Scene:
    harness: BotHarness
    user: TelegramUser
    clock: ManualClock
    outreach: OutreachComponents


@pytest.fixture
async def scene(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[Scene]:
    """A user in Tokyo who told Anna about tomorrow's exam; memory has learnt it."""
    settings = bot_settings.model_copy(update={"memory": MemorySettings(enabled=True)})
    llm.reply = scripted_model
    async with running_bot(settings, tg, llm, mongo_uri) as harness:
        outreach = harness.container.outreach
        assert outreach is not None and harness.container.memory is not None
        clock = ManualClock()
        outreach.service.clock = clock
        user = harness.user(8101)
        await harness.onboard(user)
        await user.command("timezone", "Asia/Tokyo")
        await user.expect("sendMessage", contains="Asia/Tokyo")
        await harness.choose(user, "anna")
        await user.say("I have a maths exam tomorrow, wish me luck")
        await user.expect("sendMessage", contains="Good luck")
        await user.idle()
        # The pass memory would run after the conversation went idle, now.
        await harness.container.memory.drain()
        await outreach.service.drain()  # the activity note
        user.skip()
        yield Scene(harness, user, clock, outreach)


async def plan(scene: Scene) -> CheckinJob:
    """Past the planning delay: the fact becomes a follow-up job."""
    scene.clock.current += timedelta(minutes=5)
    assert await scene.outreach.scheduler.run_once() == {}
    jobs = await scene.outreach.store.for_user(scene.user.id)
    events = [job for job in jobs if job.kind is JobKind.EVENT]
    assert len(events) == 1, jobs
    return events[0]


async def test_the_persona_follows_up_on_the_exam_evening_local_time(scene: Scene) -> None:
    job = await plan(scene)
    local_due = job.due_at.astimezone(TOKYO)
    assert local_due.hour == 19
    assert job.event_date == local_due.date()

    # The day before the evening: nothing is due, nothing is sent.
    scene.clock.current = job.due_at - timedelta(hours=1)
    assert await scene.outreach.scheduler.run_once() == {}

    scene.clock.current = job.due_at + timedelta(minutes=2)
    assert await scene.outreach.scheduler.run_once() == {"sent": 1}
    await scene.user.expect("sendMessage", contains=FOLLOW_UP)
    prompt = str(scene.harness.llm.chat_requests[-1]["messages"][0]["content"])
    assert "The user has a maths exam" in prompt and "Anna" in prompt

    # The follow-up is part of the conversation the persona remembers.
    conversation = await scene.harness.container.conversations.get_active(scene.user.id, "anna")
    assert conversation is not None
    lines = await scene.harness.container.messages.recent(conversation.id, 20)
    assert lines[-1].role is MessageRole.ASSISTANT and lines[-1].text == FOLLOW_UP
    stored = await scene.outreach.store.get(job.id)
    assert stored is not None and stored.state is JobState.SENT
    registry = scene.harness.container.metrics.registry
    sent = {"kind": "event", "text": "model"}
    assert registry.get_sample_value("companion_checkins_sent_total", sent) == 1
    assert registry.get_sample_value("companion_checkins_due_jobs") == 0

    # Another tick later sends nothing more.
    scene.user.skip()
    scene.clock.current += timedelta(hours=1)
    assert await scene.outreach.scheduler.run_once() == {}
    await scene.user.idle()
    assert scene.user.calls("sendMessage") == []


async def test_checkins_off_means_nothing_is_sent(scene: Scene) -> None:
    user = scene.user
    await user.command("checkins")
    await user.expect("sendMessage", contains="Check-ins are on")
    await user.command("checkins", "maybe")
    await user.expect("sendMessage", contains="Please send /checkins on or /checkins off")
    await user.command("checkins", "off")
    await user.expect("sendMessage", contains="check-ins are off")
    job = await plan(scene)
    user.skip()

    scene.clock.current = job.due_at + timedelta(minutes=2)
    assert await scene.outreach.scheduler.run_once() == {"skipped:opted_out": 1}
    await user.idle()
    assert user.calls("sendMessage") == []


async def test_a_blocked_bot_sends_nothing_and_marks_the_user(scene: Scene) -> None:
    job = await plan(scene)
    scene.harness.tg.block(scene.user.id)
    scene.clock.current = job.due_at + timedelta(minutes=2)

    assert await scene.outreach.scheduler.run_once() == {"skipped:blocked": 1}
    assert [call for call in scene.user.calls("sendMessage") if call.ok] == []
    profile = await scene.harness.container.users.get(scene.user.id)
    assert profile is not None and profile.blocked_at == scene.clock.current.replace(
        microsecond=scene.clock.current.microsecond // 1000 * 1000
    )
    stored = await scene.outreach.store.get(job.id)
    assert stored is not None and stored.state is JobState.SKIPPED
