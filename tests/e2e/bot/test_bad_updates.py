"""Updates the bot cannot or need not handle, through the real webhook: each is answered without a
5xx, handled quietly (ignored, or a polite answer), counted in ``companion_bad_updates_total``
and logged without the person's text."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from companion.config import Settings
from tests.e2e.bot.conftest import WEBHOOK_SECRET, BotHarness, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator

SECRET_TEXT = "MY-PRIVATE-WORDS-42"
GENERIC_ERROR = "something went wrong"
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}


@pytest.fixture
async def hook(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    async with running_bot(bot_settings, tg, llm, mongo_uri, webhook=True) as harness:
        yield harness


class LoopErrors:
    """ERROR log records and what reaches the loop's exception handler ("Task exception was
    never retrieved"), for tests that must see none."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.loop_errors: list[str] = []

    def install(self) -> None:
        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            self.loop_errors.append(str(context.get("message")))
            loop.default_exception_handler(context)

        asyncio.get_running_loop().set_exception_handler(handler)

    def errors(self) -> list[str]:
        gc.collect()  # a failed task nobody awaited is reported when it is collected
        records = [
            f"{r.name}: {r.getMessage()[:200]}"
            for r in self.caplog.records
            if r.levelno >= logging.ERROR
        ]
        return records + self.loop_errors

    def texts(self) -> str:
        return "\n".join(record_text(r) for r in self.caplog.records)


def record_text(record: logging.LogRecord) -> str:
    """Everything a log record carries: the message, a traceback, extra fields."""
    return record.getMessage() + (record.exc_text or "") + str(record.__dict__)


@pytest.fixture
def watched(caplog: pytest.LogCaptureFixture) -> LoopErrors:
    """Call ``install()`` in the test: the handler goes on the test's own event loop."""
    caplog.set_level(logging.DEBUG)
    return LoopErrors(caplog)


async def post(harness: BotHarness, body: Any, *, secret: str | None = WEBHOOK_SECRET) -> int:
    assert harness.webhook_url is not None
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    async with (
        aiohttp.ClientSession() as session,
        session.post(harness.webhook_url, data=json.dumps(body), headers=headers) as response,
    ):
        return response.status


def bad_updates(harness: BotHarness, reason: str) -> float:
    registry = harness.dp.workflow_data["metrics"].registry
    return registry.get_sample_value("companion_bad_updates_total", {"reason": reason}) or 0.0


async def settle(harness: BotHarness, reason: str, expected: float, timeout: float = 15) -> None:
    """Wait until `expected` updates were counted for `reason` (handling is in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while bad_updates(harness, reason) < expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{reason}: {bad_updates(harness, reason)} of {expected}")
        await asyncio.sleep(0.05)


async def still_answers(harness: BotHarness, user_id: int) -> None:
    """A normal person is served after whatever came before."""
    user = harness.user(user_id)
    await user.command("start")
    await user.expect("sendMessage", contains="Choose your language")


@pytest.mark.parametrize(
    "secret",
    [
        "секрет",
        WEBHOOK_SECRET + "é",
        "é" * len(WEBHOOK_SECRET),
        "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
    ],
)
async def test_non_ascii_secret_header_is_a_quiet_401(
    hook: BotHarness, watched: LoopErrors, secret: str
) -> None:
    watched.install()
    hook.tg.register_user({"id": 6101, "is_bot": False, "first_name": "Eve"})
    update = {
        "update_id": 61001,
        "message": {
            "message_id": 1,
            "date": 1,
            "from": {"id": 6101, "is_bot": False, "first_name": "Eve"},
            "chat": {"id": 6101, "type": "private", "first_name": "Eve"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    # aiohttp sends a str header as latin-1 bytes: these arrive as non-ASCII UTF-8.
    assert await post(hook, update, secret=secret.encode().decode("latin-1")) == 401
    assert bad_updates(hook, "bad_secret") == 1
    await asyncio.sleep(0.3)
    assert hook.tg.calls_for(6101) == []  # nothing was processed
    assert watched.errors() == []
    await still_answers(hook, 6102)


async def test_unknown_and_empty_update_types_are_ignored(
    hook: BotHarness, watched: LoopErrors
) -> None:
    watched.install()
    newer = {"update_id": 61101, "brand_new_update": {"text": SECRET_TEXT, "from": {"id": 1}}}
    empty = {"update_id": 61102}
    assert await post(hook, newer) == 200
    assert await post(hook, empty) == 200
    await settle(hook, "unknown_type", 2)
    await still_answers(hook, 6111)
    assert watched.errors() == []
    assert SECRET_TEXT not in watched.texts()


async def test_updates_without_a_person_are_ignored_politely(
    hook: BotHarness, watched: LoopErrors
) -> None:
    watched.install()
    person = hook.user(6201)
    await hook.onboard(person)
    person.skip()
    group = hook.tg.register_group(-1006201, "Friends")
    channel = {"id": -1006202, "type": "channel", "title": "News"}
    hook.tg.chats[channel["id"]] = channel
    other_bot = {"id": 6299, "is_bot": True, "first_name": "Other", "username": "other_bot"}
    mention = f"@{hook.tg.bot_user['username']}"

    def message(**fields: Any) -> dict[str, Any]:
        return {"message_id": 7, "date": 1, "text": SECRET_TEXT, **fields}

    updates: list[dict[str, Any]] = [
        {"channel_post": message(chat=channel, sender_chat=channel)},
        {"edited_channel_post": message(chat=channel, edit_date=2)},
        {"message": message(chat=person.chat)},  # no sender at all
        {"message": message(chat=person.chat, **{"from": other_bot})},
        {"edited_message": message(chat=person.chat, edit_date=2)},
        {
            "message": message(
                chat=person.chat,
                text="/memory",
                entities=[{"type": "bot_command", "offset": 0, "length": 7}],
                **{"from": other_bot},
            )
        },
        {  # an anonymous admin's command in a group: group chatter, not addressed to the bot
            "message": message(
                chat=group,
                sender_chat=group,
                text="/subscription",
                entities=[{"type": "bot_command", "offset": 0, "length": 13}],
                **{"from": ANONYMOUS_ADMIN},
            )
        },
    ]
    for number, update in enumerate(updates):
        assert await post(hook, {"update_id": 62000 + number, **update}) == 200
    await settle(hook, "no_user", 6)
    # An anonymous admin who addresses the bot in a group is still answered politely (in the
    # bot's default language: there is no person to take one from).
    addressed = message(
        chat=group,
        sender_chat=group,
        text=f"{mention} hello",
        entities=[{"type": "mention", "offset": 0, "length": len(mention)}],
        **{"from": ANONYMOUS_ADMIN},
    )
    assert await post(hook, {"update_id": 62100, "message": addressed}) == 200
    _, reply = await hook.tg.wait_for(lambda call: call.chat_id == group["id"])
    assert reply.method == "sendMessage" and mention in (reply.text or "")
    assert len(hook.tg.calls_for(group["id"])) == 1  # the /subscription got no answer
    await person.command("help")
    await person.expect("sendMessage", contains="/persona")
    assert not any(GENERIC_ERROR in (call.text or "") for call in hook.tg.calls)
    assert hook.tg.calls_for(channel["id"]) == []
    assert watched.errors() == []
    assert SECRET_TEXT not in watched.texts()


async def test_double_tapped_buttons_are_not_errors(hook: BotHarness, watched: LoopErrors) -> None:
    watched.install()
    user = hook.user(6301)
    await user.command("start")
    keyboard = await user.expect("sendMessage", where=lambda call: "reply_markup" in call.params)
    message = hook.tg.messages[(user.id, keyboard.result["message_id"])]
    stale = json.loads(json.dumps(message))  # the message as the user's app still shows it
    await user.press(text="English", message=stale)
    await user.expect("editMessageText", contains="Language: English")
    await user.press(text="English", message=stale)  # the same button, tapped again
    await user.expect("editMessageText", ok=False)  # "message is not modified"
    await settle(hook, "not_modified", 1)
    await user.press(text="✅")
    await user.expect("sendPhoto")
    # Paging the library twice from the same card: the second edit changes nothing.
    card = json.loads(json.dumps(user.history()[-1]))
    forward = next(data for text, data in user.buttons() if text == "▶")
    await user.press(forward, message=card)
    await user.expect("editMessageMedia")
    await user.press(forward, message=card)
    await settle(hook, "not_modified", 2)
    await user.idle()
    assert not any(GENERIC_ERROR in (call.text or "") for call in user.calls())
    assert watched.errors() == []


async def test_a_press_too_old_to_answer_is_not_an_error(
    hook: BotHarness, watched: LoopErrors
) -> None:
    watched.install()
    user = hook.user(6401)
    await hook.onboard(user)
    card = user.history()[-1]
    forward = next(data for text, data in user.buttons() if text == "▶")
    # Telegram forgets a query after a while: answering it then is refused.
    query = {
        "id": "too-old-6401",
        "from": user.user,
        "chat_instance": "ci",
        "message": card,
        "data": forward,
    }
    await hook.tg.push_update({"callback_query": query})
    await settle(hook, "stale_callback", 1)
    await user.idle()
    assert not any(GENERIC_ERROR in (call.text or "") for call in user.calls())
    assert watched.errors() == []


async def test_update_failing_the_schema_is_answered_200_and_logged_without_text(
    hook: BotHarness, watched: LoopErrors
) -> None:
    watched.install()
    user = hook.user(6501)
    broken = {
        "update_id": 65001,
        "message": {
            "message_id": "not-a-number",
            "date": 1,
            "from": user.user,
            "chat": user.chat,
            "text": SECRET_TEXT,
            "entities": [{"type": "bold", "url": SECRET_TEXT}],
        },
    }
    assert await post(hook, broken) == 200  # an error would make Telegram send it forever
    assert await post(hook, [SECRET_TEXT]) == 200
    await settle(hook, "invalid_update", 2)
    await still_answers(hook, 6502)
    assert watched.errors() == []
    assert SECRET_TEXT not in watched.texts()
    record = next(r for r in watched.caplog.records if "65001" in r.getMessage())
    assert record.levelno == logging.WARNING
    assert "int_parsing at message.message_id" in record.getMessage()
    assert "missing at message.entities.0.offset" in record.getMessage()


@pytest.mark.parametrize("update_id", [True, False, 1.5, "66001", None])
async def test_an_update_id_that_is_no_integer_is_not_a_server_error(
    hook: BotHarness, watched: LoopErrors, update_id: object
) -> None:
    """JSON `true` is an int to Python: it used to reach Redis as an argument of the claim,
    which refuses a bool, and the webhook answered 503 (Telegram then sends it forever)."""
    watched.install()
    user = hook.user(6601)
    update = {
        "update_id": update_id,
        "message": {"message_id": 1, "date": 1, "from": user.user, "chat": user.chat, "text": "hi"},
    }
    assert await post(hook, update) == 200
    await still_answers(hook, 6602)
    assert watched.errors() == []


async def test_a_button_forged_onto_another_message_is_not_an_error(
    hook: BotHarness, watched: LoopErrors
) -> None:
    """Button data comes from the client and can be put on any message: "/forget → no" pressed
    on the library's photo card asks to edit a text that is not there."""
    watched.install()
    user = hook.user(6601)
    await hook.onboard(user)
    card = json.loads(json.dumps(user.history()[-1]))
    assert "photo" in card
    await user.press_raw("forget:no", card)
    await settle(hook, "stale_button", 1)
    await user.idle()
    assert not any(GENERIC_ERROR in (call.text or "") for call in user.calls())
    assert watched.errors() == []


@pytest.mark.parametrize("user_id", [0, -5, 2**52, 2**64 + 1])
async def test_an_impossible_user_id_is_ignored(
    hook: BotHarness, watched: LoopErrors, user_id: int
) -> None:
    """User ids have at most 52 significant bits; a bigger one cannot even be looked up in
    MongoDB (OverflowError), and a forged one must not reach the database."""
    watched.install()
    sender = {"id": user_id, "is_bot": False, "first_name": "Forged"}
    chat = {"id": 6701, "type": "private", "first_name": "Forged"}
    hook.tg.chats[chat["id"]] = chat
    update = {
        "update_id": 67001,
        "message": {"message_id": 1, "date": 1, "chat": chat, "from": sender, "text": "hi"},
    }
    assert await post(hook, update) == 200
    await settle(hook, "invalid_update", 1)
    await still_answers(hook, 6702)
    assert hook.tg.calls_for(chat["id"]) == []
    assert watched.errors() == []
