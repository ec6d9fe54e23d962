"""News broadcasts end to end: the admin's screens, the worker, Telegram's answers, restarts.

The bot runs as `companion bot` builds it (`companion.app.build_app`) against the Bot API
emulator, SecantusDB and Redis; the broadcast worker is started as the bot command starts it.
Recipients are stored profiles (consented, a language, maybe a persona), registered as chats
in the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from companion.app import build_app
from companion.broadcasts.models import CampaignStatus, Content, Segment, SegmentKind
from companion.config import BroadcastSettings, Settings
from companion.domain.models import User, UserSettings
from companion.storage import collections as c
from tests.e2e.bot.conftest import BotHarness, make_settings, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import ApiCall

ADMIN = 777_000_001


def _settings(
    mongo_uri: str,
    redis_prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    personas_dir: Path,
    **broadcasts: Any,
) -> Settings:
    settings = make_settings(
        mongo_uri=mongo_uri,
        prefix=redis_prefix,
        llm=llm,
        tg=tg,
        personas_dir=personas_dir,
        admin_ids=[ADMIN],
    )
    settings.broadcasts = BroadcastSettings(
        **{"poll_interval_s": 0.3, "progress_interval_s": 0.5, "lease_s": 2.0, **broadcasts}
    )
    return settings


@contextlib.asynccontextmanager
async def bot_with_worker(
    settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    async with running_bot(settings, tg, llm, mongo_uri) as harness:
        harness.container.broadcasts.worker.start()  # as `companion bot` does
        yield harness


async def add_people(
    harness: BotHarness, ids: list[int], **profile: Any
) -> dict[int, TelegramUser]:
    """Consented profiles, stored as the bot stores them, each a chat in the emulator."""
    people = {}
    for uid in ids:
        people[uid] = harness.user(uid, language_code=profile.get("language", "en"))
        fields = {"language": "en", **profile}
        await harness.container.users.upsert(User(id=uid, consent_at=datetime.now(UTC), **fields))
    return people


def broadcast_calls(tg: TelegramBotAPIEmulator, uid: int, marker: str) -> list[ApiCall]:
    return [
        call
        for call in tg.calls_for(uid)
        if call.method in ("sendMessage", "sendPhoto") and marker in (call.raw_text or "")
    ]


def delivered(tg: TelegramBotAPIEmulator, uid: int, marker: str) -> int:
    return sum(1 for call in broadcast_calls(tg, uid, marker) if call.ok)


async def wait_report(admin: TelegramUser, timeout: float = 60.0) -> str:
    call = await admin.expect(
        "sendMessage",
        where=lambda c: "Broadcast finished" in (c.text or "") or "stopped" in (c.text or ""),
        timeout=timeout,
    )
    return call.text or ""


async def start_campaign(harness: BotHarness, text: str, segment: Segment | None = None) -> str:
    """A campaign confirmed by the service, its progress shown in a message to the admin."""
    service = harness.container.broadcasts.service
    progress = await harness.bot.send_message(ADMIN, "queued")
    draft = await service.draft(Content(text=text), admin_id=ADMIN, admin_language="en")
    campaign = await service.confirm(
        draft.id,
        segment or Segment(kind=SegmentKind.ALL),
        chat_id=ADMIN,
        message_id=progress.message_id,
    )
    assert campaign is not None
    return campaign.id


async def recipient_states(harness: BotHarness, campaign_id: str) -> dict[int, str]:
    rows = harness.db[c.BROADCAST_RECIPIENTS].find({"campaign_id": campaign_id})
    return {row["user_id"]: row["state"] async for row in rows}


@pytest.fixture
def make(
    mongo_uri: str,
    redis_prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    personas_dir: Path,
) -> Callable[..., Settings]:
    def build(**broadcasts: Any) -> Settings:
        return _settings(mongo_uri, redis_prefix, llm, tg, personas_dir, **broadcasts)

    return build


async def test_admin_composes_previews_segments_confirms_and_gets_a_report(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    async with bot_with_worker(make(), tg, llm, mongo_uri) as harness:
        people = await add_people(harness, [1001, 1002, 1003, 1004])
        people |= await add_people(harness, [1006], language="ru", current_persona_id="anna")
        await add_people(harness, [1005], settings=UserSettings(news=False))
        harness.user(1007)  # a chat, but never accepted the terms: not stored
        tg.block(1004)  # blocked the bot; the bot does not know yet
        admin = harness.user(ADMIN)

        await admin.command("admin")
        await admin.expect("sendMessage", contains="Owner's console")
        await admin.press("adm:broadcast")
        await admin.expect("editMessageText", contains="New broadcast")
        await admin.say("Big news & a new persona!")
        await admin.expect("sendMessage", contains="link buttons")
        await admin.say("just text")  # not "Text | URL": a polite hint, still waiting
        await admin.expect("sendMessage", contains="Line 1")
        await admin.say("Our site | https://example.com/news")
        preview = await admin.expect("sendMessage", contains="Big news & a new persona!")
        keyboard = preview.params["reply_markup"]["inline_keyboard"]
        assert keyboard[0][0] == {"text": "Our site", "url": "https://example.com/news"}
        assert "Turn off news" in keyboard[-1][0]["text"]
        await admin.expect("sendMessage", contains="Who should get it?")

        await admin.press(text="Language: RU")
        await admin.expect("editMessageText", contains="1 person")
        await admin.press(text="Back")
        await admin.expect("editMessageText", contains="Who should get it?")
        await admin.press(text="Everyone")
        # 1005 turned news off, 1007 never consented; 1004 is not known to be blocked yet.
        await admin.expect("editMessageText", contains="5 people")
        await admin.press(text="Send")
        await admin.expect("editMessageText", contains="queued: 5 recipients")
        report = await wait_report(admin)

        assert "Delivered: 4" in report and "Blocked the bot: 1" in report
        assert "Failed: 0" in report and "or cut off by a restart; not resent): 0" in report
        for uid in (1001, 1002, 1003, 1006):
            assert delivered(tg, uid, "Big news") == 1, uid
        assert [c.error_code for c in broadcast_calls(tg, 1004, "Big news")] == [403]
        assert broadcast_calls(tg, 1005, "Big news") == broadcast_calls(tg, 1007, "Big news") == []
        russian = broadcast_calls(tg, 1006, "Big news")[0].params["reply_markup"]
        assert "Отключить новости" in russian["inline_keyboard"][-1][0]["text"]
        blocked = await harness.db[c.USERS].find_one({"_id": 1004})
        assert blocked is not None and blocked["blocked_at"] is not None

        # 1001 turns news off from the broadcast's own button.
        message = broadcast_calls(tg, 1001, "Big news")[0].result
        await people[1001].press(text="Turn off news", message=message)
        await people[1001].expect("sendMessage", contains="News is off")

        # The next campaign skips the blocked and the opted-out without a call.
        campaign = await start_campaign(harness, "Second news")
        assert "Delivered: 3" in await wait_report(admin)
        assert sorted(await recipient_states(harness, campaign)) == [1002, 1003, 1006]
        assert broadcast_calls(tg, 1004, "Second news") == []
        assert broadcast_calls(tg, 1001, "Second news") == []

        # 1004 unblocks and writes again: no longer marked, and /news shows news on.
        tg.blocked.discard(1004)
        await people[1004].command("news")
        await people[1004].expect("sendMessage", contains="News is on")
        unblocked = await harness.db[c.USERS].find_one({"_id": 1004})
        assert unblocked is not None and unblocked.get("blocked_at") is None


async def test_news_command_switches_and_explains(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    async with bot_with_worker(make(), tg, llm, mongo_uri) as harness:
        people = await add_people(harness, [2001])
        people |= await add_people(harness, [2002], language="ru")
        anna, boris = people[2001], people[2002]
        await anna.command("news", "off")
        await anna.expect("sendMessage", contains="News is off")
        await anna.command("news", "sometimes")
        await anna.expect("sendMessage", contains="/news on or /news off")
        await anna.press(text="Turn news on")
        await anna.expect("sendMessage", contains="News is on")
        await boris.command("news", "off")
        await boris.expect("sendMessage", contains="Новости выключены")
        stored = {
            doc["_id"]: doc["settings"]["news"]
            async for doc in harness.db[c.USERS].find({"_id": {"$in": [2001, 2002]}})
        }
        assert stored == {2001: True, 2002: False}

        # Blocking the bot in Telegram marks Boris at once; unblocking clears it.
        await tg.push_update(_membership(boris, "kicked"))
        assert await _blocked_at(harness, 2002, want=True) is not None
        await tg.push_update(_membership(boris, "member"))
        assert await _blocked_at(harness, 2002, want=False) is None


def _membership(user: TelegramUser, status: str) -> dict[str, Any]:
    """Telegram's my_chat_member update when a person blocks ("kicked") or unblocks the bot."""
    bot = user.tg.bot_user
    old, new = ("member", "kicked") if status == "kicked" else ("kicked", "member")
    member = {"member": {"status": "member", "user": bot}, "kicked": {
        "status": "kicked", "user": bot, "until_date": 0}}  # fmt: skip
    return {
        "my_chat_member": {
            "chat": user.chat,
            "from": user.user,
            "date": 1_700_000_000,
            "old_chat_member": member[old],
            "new_chat_member": member[new],
        }
    }


async def _blocked_at(harness: BotHarness, uid: int, *, want: bool) -> Any:
    """The stored `blocked_at` once it is set (or cleared), or what it is after 10 s."""
    for _ in range(100):
        doc = await harness.db[c.USERS].find_one({"_id": uid})
        value = doc.get("blocked_at") if doc else None
        if (value is not None) == want:
            return value
        await asyncio.sleep(0.1)
    return value


async def test_a_429_pauses_every_send_for_retry_after(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    ids = list(range(3001, 3013))
    async with bot_with_worker(make(rate_per_s=20), tg, llm, mongo_uri) as harness:
        await add_people(harness, ids)
        admin = harness.user(ADMIN)
        tg.fail_next("sendMessage", retry_after=2, chat_id=3004)
        await start_campaign(harness, "Paced news")
        assert "Delivered: 12" in await wait_report(admin)

    for uid in ids:
        assert delivered(tg, uid, "Paced news") == 1, uid
    refused, retried = broadcast_calls(tg, 3004, "Paced news")
    assert (refused.error_code, retried.ok) == (429, True)
    assert retried.at - refused.at >= 2.0
    # Nobody else was sent anything while Telegram asked to wait (sends already on their way
    # when the 429 came are allowed a moment).
    during = [
        call
        for uid in ids
        for call in broadcast_calls(tg, uid, "Paced news")
        if refused.at + 0.5 < call.at < refused.at + 2.0
    ]
    assert during == []


async def test_the_pace_stays_under_a_global_limit(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    """The emulator refuses more than 20 messages a second over all chats (Telegram's ~30/s
    for bulk notifications, scaled down); at 10/s with 8 in flight nothing is refused."""
    ids = list(range(4001, 4031))
    tg.set_global_rate_limit(20, 1.0, methods=["sendMessage"])
    async with bot_with_worker(make(rate_per_s=10), tg, llm, mongo_uri) as harness:
        await add_people(harness, ids)
        admin = harness.user(ADMIN)
        await start_campaign(harness, "Even news")
        assert "Delivered: 30" in await wait_report(admin)
    calls = [call for uid in ids for call in broadcast_calls(tg, uid, "Even news")]
    assert len(calls) == 30 and all(call.ok for call in calls)


async def _hang_on(
    tg: TelegramBotAPIEmulator, ids: set[int], nth: int
) -> tuple[asyncio.Event, asyncio.Event]:
    """The `nth` broadcast send waits (the HTTP call in flight) until the first event is set;
    the second one says it is waiting."""
    release, waiting = asyncio.Event(), asyncio.Event()
    seen = 0

    async def hang(params: dict[str, Any]) -> None:
        nonlocal seen
        if params.get("chat_id") not in ids:
            return
        seen += 1
        if seen == nth:
            waiting.set()
            await release.wait()

    tg.on_call("sendMessage", hang)
    return release, waiting


async def _second_process(settings: Settings, until: Callable[[], Awaitable[str]]) -> str:
    """Another bot process on the same database: its worker resumes the campaign."""
    async with build_app(settings, watch_personas=False) as app:
        app.broadcasts.worker.start()
        return await until()


async def _outcome(harness: BotHarness, campaign: str) -> tuple[dict[int, str], str]:
    states = await recipient_states(harness, campaign)
    doc = await harness.db[c.BROADCASTS].find_one({"_id": campaign})
    assert doc is not None
    return states, doc["status"]


async def test_a_crash_mid_campaign_resumes_and_sends_no_one_twice(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    """The first worker dies while the 10th message is on its way (sent, not yet marked). A new
    process takes over once the lease runs out: every other person gets exactly one message,
    and the one cut off is reported as not confirmed and never sent again."""
    ids = list(range(5001, 5031))
    settings = make(rate_per_s=10, concurrency=1, lease_s=1.5)
    release, waiting = await _hang_on(tg, set(ids), nth=10)
    async with bot_with_worker(settings, tg, llm, mongo_uri) as harness:
        await add_people(harness, ids)
        admin = harness.user(ADMIN)
        campaign = await start_campaign(harness, "Crash news")
        await asyncio.wait_for(waiting.wait(), 30)
        await harness.container.broadcasts.worker.abort()  # the process dies here
        release.set()  # Telegram delivers the message whose answer nobody reads
        report = await _second_process(settings, lambda: wait_report(admin))
        states, status = await _outcome(harness, campaign)
        progress = [call.text or "" for call in admin.calls("editMessageText") if call.ok]

    cut_off = [uid for uid, state in states.items() if state == "unconfirmed"]
    assert sorted(states) == ids and len(cut_off) == 1
    assert {state for uid, state in states.items() if uid not in cut_off} == {"sent"}
    for uid in ids:
        assert delivered(tg, uid, "Crash news") == 1, uid  # the cut-off one too: never resent
    assert "Delivered: 29" in report
    assert "or cut off by a restart; not resent): 1" in report
    assert status == CampaignStatus.DONE.value
    assert any(text.startswith("📣 Sending:") for text in progress)
    assert progress[-1].startswith("📣 Broadcast finished")


async def test_a_graceful_restart_resumes_at_once_exactly_once(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    """A shutdown lets the send in flight finish and hands the lease back: the next process
    continues straight away, and everyone gets exactly one message."""
    ids = list(range(6001, 6031))
    settings = make(rate_per_s=10, lease_s=30)  # a lease that would outlast the test
    release, waiting = await _hang_on(tg, set(ids), nth=12)
    async with bot_with_worker(settings, tg, llm, mongo_uri) as harness:
        await add_people(harness, ids)
        admin = harness.user(ADMIN)
        campaign = await start_campaign(harness, "Calm news")
        await asyncio.wait_for(waiting.wait(), 30)
        stopping = asyncio.create_task(harness.container.broadcasts.worker.stop())
        await asyncio.sleep(0.2)
        release.set()  # the send in flight is answered; the worker then stops
        await stopping
        sent_before = sum(delivered(tg, uid, "Calm news") for uid in ids)
        report = await asyncio.wait_for(_second_process(settings, lambda: wait_report(admin)), 20)
        states, status = await _outcome(harness, campaign)

    assert 12 <= sent_before < 30
    assert set(states.values()) == {"sent"} and sorted(states) == ids
    for uid in ids:
        assert delivered(tg, uid, "Calm news") == 1, uid
    assert "Delivered: 30" in report and "resent): 0" in report
    assert status == CampaignStatus.DONE.value


async def test_two_workers_never_send_one_campaign_twice(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    """Two bot processes, both running their worker: the lease lets one send."""
    ids = list(range(7001, 7021))
    settings = make(rate_per_s=20)
    async with bot_with_worker(settings, tg, llm, mongo_uri) as harness:
        await add_people(harness, ids)
        admin = harness.user(ADMIN)
        async with build_app(settings, watch_personas=False) as other:
            other.broadcasts.worker.start()
            campaign = await start_campaign(harness, "Twice news")
            report = await wait_report(admin)
            states, status = await _outcome(harness, campaign)
            await asyncio.sleep(0.5)  # the other worker had its chance to do wrong

    for uid in ids:
        assert delivered(tg, uid, "Twice news") == 1, uid
    assert "Delivered: 20" in report and status == CampaignStatus.DONE.value
    assert set(states.values()) == {"sent"}
    reports = [
        call for call in admin.calls("sendMessage") if "Broadcast finished" in (call.text or "")
    ]
    assert len(reports) == 1


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_photo_with_a_formatted_caption_to_one_persona(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    async with bot_with_worker(make(), tg, llm, mongo_uri) as harness:
        await add_people(harness, [8001, 8003], current_persona_id="anna")
        await add_people(harness, [8002], current_persona_id="mark")
        admin = harness.user(ADMIN)
        await admin.command("admin")
        await admin.expect("sendMessage", contains="Owner's console")
        await admin.press("adm:broadcast")
        await admin.expect("editMessageText", contains="New broadcast")
        await admin.send_sticker()
        await admin.expect("sendMessage", contains="Only text or a photo")
        stored = tg.store_file(_png(), kind="photos")
        size = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        photo = [{**size, "width": 32, "height": 32, "file_size": stored.size}]
        bold = [{"type": "bold", "offset": 0, "length": 3}]
        # A Premium account may write a caption the Bot API refuses (over 1024): the preview
        # says so, and the screen waits for the message again.
        await admin.send_message(admin._message(photo=photo, caption="x" * 1500))
        await admin.expect("sendMessage", contains="link buttons")
        await admin.press(text="No buttons")
        await admin.expect("sendMessage", contains="did not accept this message")
        await admin.send_message(
            admin._message(photo=photo, caption="New look <3", caption_entities=bold)
        )
        await admin.expect("sendMessage", contains="link buttons")
        await admin.press(text="No buttons")
        preview = await admin.expect("sendPhoto")
        assert preview.params["photo"] == stored.file_id
        assert preview.raw_text == "<b>New</b> look &lt;3"
        await admin.expect("sendMessage", contains="Who should get it?")

        await admin.press(text="Inactive")
        await admin.expect("editMessageText", contains="Inactive for how long?")
        await admin.say("a week")
        await admin.expect("sendMessage", contains="whole number of days")
        await admin.say("7")  # everyone here joined today
        await admin.expect("sendMessage", contains="Nobody is in")
        await admin.press(text="Back")
        await admin.expect("editMessageText", contains="Who should get it?")
        await admin.press(text="Inactive")
        await admin.expect("editMessageText", contains="Inactive for how long?")
        await admin.press(text="30 days")
        await admin.expect("editMessageText", contains="Nobody is in")
        await admin.press(text="Back")
        await admin.expect("editMessageText", contains="Who should get it?")
        await admin.press(text="By persona")
        await admin.expect("editMessageText", contains="talk to which persona")
        await admin.press(text="Anna")
        await admin.expect("editMessageText", contains="talking to Anna: 2 people")
        await admin.press(text="Send")
        assert "Delivered: 2" in await wait_report(admin)

    for uid in (8001, 8003):
        (call,) = [c for c in tg.calls_for(uid, "sendPhoto") if c.ok]
        assert call.params["photo"] == stored.file_id
        assert call.raw_text == "<b>New</b> look &lt;3"
    assert tg.calls_for(8002, "sendPhoto") == []


async def test_stop_leaves_the_rest_unsent_and_reports_it(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    ids = list(range(9001, 9021))
    async with bot_with_worker(make(rate_per_s=4), tg, llm, mongo_uri) as harness:
        await add_people(harness, ids)
        admin = harness.user(ADMIN)
        campaign = await start_campaign(harness, "Stopped news")
        progress = await admin.expect("editMessageText", contains="Sending:", timeout=20)
        await admin.press("bc:stop:" + campaign + "::", message=progress.result)
        report = await wait_report(admin)
        states, status = await _outcome(harness, campaign)
        await asyncio.sleep(1.0)  # nothing more goes out after the report

    sent = [uid for uid, state in states.items() if state == "sent"]
    unsent = [uid for uid, state in states.items() if state == "pending"]
    assert status == CampaignStatus.CANCELLED.value
    assert sent and unsent and len(sent) + len(unsent) == len(ids)
    assert f"Delivered: {len(sent)}" in report and f"Not sent: {len(unsent)}" in report
    assert all(delivered(tg, uid, "Stopped news") == 1 for uid in sent)
    assert all(broadcast_calls(tg, uid, "Stopped news") == [] for uid in unsent)


async def test_telegram_refusals_are_told_apart(
    make: Callable[..., Settings], tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    """403 "user is deactivated" counts as blocked (and is marked); 400 "chat not found" and a
    500 fail that one message only, nobody is marked, nothing is retried."""
    async with bot_with_worker(make(), tg, llm, mongo_uri) as harness:
        await add_people(harness, [9501, 9502, 9504])
        fields = {"language": "en", "consent_at": datetime.now(UTC)}
        await harness.container.users.upsert(User(id=9503, **fields))  # no chat with the bot
        admin = harness.user(ADMIN)
        tg.fail_next("sendMessage", error_code=403, description="Forbidden: user is deactivated",
                     chat_id=9502)  # fmt: skip
        tg.fail_next("sendMessage", error_code=500, chat_id=9504)
        campaign = await start_campaign(harness, "Mixed news")
        report = await wait_report(admin)
        states, _ = await _outcome(harness, campaign)
        marked = {
            doc["_id"]: doc.get("blocked_at") is not None
            async for doc in harness.db[c.USERS].find({"_id": {"$in": [9501, 9502, 9503, 9504]}})
        }

    assert states == {9501: "sent", 9502: "blocked", 9503: "failed", 9504: "failed"}
    assert "Delivered: 1" in report and "Blocked the bot: 1" in report and "Failed: 2" in report
    assert marked == {9501: False, 9502: True, 9503: False, 9504: False}
    assert [c.description for c in broadcast_calls(tg, 9503, "Mixed news")] == [
        "Bad Request: chat not found"
    ]
    assert len(broadcast_calls(tg, 9504, "Mixed news")) == 1
