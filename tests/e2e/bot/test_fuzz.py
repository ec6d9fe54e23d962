"""Fuzz: thousands of schema-shaped random updates through the real webhook.

The real aiohttp app (`create_webhook_app`: secret check, bounded admission), aiogram and every
router and middleware, talking to the Bot API emulator, real Redis and the MongoDB-wire server.
Updates are built from the Bot API's shapes and then damaged at random: missing or mistyped
fields, random entity types and offsets, random callback data, channel posts, edited messages,
chat member updates, pre-checkout queries with garbage payloads, unknown update types, random
unicode, huge strings, wrong secrets, non-JSON bodies.

It asserts that every POST is answered below 500, that nothing is logged at ERROR (nor reaches
the loop's exception handler, "Task exception was never retrieved"), that no log record carries
what the fuzzed people wrote, and that a normal person is answered afterwards.

Seeded (``COMPANION_FUZZ_SEED``, printed on failure) and bounded in time
(``COMPANION_FUZZ_SECONDS``, default 30 s of sending, at most 20,000 updates).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from companion.app import build_app
from companion.bot.dispatcher import build_dispatcher
from companion.bot.runner import build_fsm_storage
from companion.bot.webhook import create_webhook_app, register_webhook
from companion.config import Settings
from tests.e2e.bot.conftest import WEBHOOK_SECRET, BotHarness
from tests.e2e.bot.test_bad_updates import LoopErrors, record_text
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import free_port
from tests.emulators.yookassa import YooKassaEmulator

SEED = int(os.environ.get("COMPANION_FUZZ_SEED", "20261313"))
SECONDS = float(os.environ.get("COMPANION_FUZZ_SECONDS", "30"))
MAX_UPDATES = 20_000
MIN_UPDATES = 1000  # "thousands": fewer means the fuzz did not really run
BATCH = 24  # concurrent POSTs, about what Telegram's max_connections allows
CANARY = "qzx"  # in every fuzzed text; must never show up in a log record

ENTITY_TYPES = [
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
    "italic", "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote",
    "code", "pre", "text_link", "text_mention", "custom_emoji", "date_time", "no_such_type",
]  # fmt: skip
COMMANDS = [
    "/start", "/help", "/lang", "/persona", "/reset", "/memory", "/export", "/forget", "/pro",
    "/subscription", "/echo", "/refund", "/grant", "/start@companion_test_bot", "/nope", "/",
]  # fmt: skip
CALLBACK_PREFIXES = [
    "lang:", "consent:", "lib:page:", "lib:pick:", "lib:noop:", "adult:", "mem:del:", "forget:",
    "bill:plan:", "bill:offer:", "bill:card:", "bill:stars:", "bill:cancel:", "bill:resume:",
    "bill:", "billing:", "",
]  # fmt: skip
UNICODE_POOL = (
    "abc xyz АБВгдё 😀👍🏽 \u200b\u200d\u202e\u2028\ufeff \x00\x07 <b>&amp;</b> <i> ' \" \\ "
    "{{char}} {{user}} ${x} %s %(x)s \U0010ffff 中文 العربية ﷽ 𝕏"
)


class Fuzzer:
    """Random updates shaped like the Bot API's, from a fixed pool of people and chats."""

    def __init__(self, rnd: random.Random, harness: BotHarness, people: list[TelegramUser]):
        self.rnd = rnd
        self.tg = harness.tg
        self.people = people
        self.groups = [
            self.tg.register_group(-1007000 - n, f"Group {n}", supergroup=bool(n % 2))
            for n in range(3)
        ]
        self.channel = {"id": -1007100, "type": "channel", "title": "Channel"}
        self.tg.chats[self.channel["id"]] = self.channel
        self.other_bot = {"id": 7999, "is_bot": True, "first_name": "Bot", "username": "x_bot"}
        self.anonymous = {
            "id": 1087968824,
            "is_bot": True,
            "first_name": "Group",
            "username": "GroupAnonymousBot",
        }
        self.next_id = 900_000
        self.kinds: Counter[str] = Counter()

    # --- values ------------------------------------------------------------------------------

    def text(self) -> str:
        roll = self.rnd.random()
        if roll < 0.05:
            body = self.rnd.choice("aé😀 ") * self.rnd.choice([4096, 5000, 40_000])
        elif roll < 0.25:
            body = self.rnd.choice(COMMANDS) + " " + self._chars(self.rnd.randint(0, 30))
        else:
            body = self._chars(self.rnd.randint(0, 200))
        return f"{CANARY}{body}"

    def _chars(self, n: int) -> str:
        if self.rnd.random() < 0.3:
            return (
                "".join(chr(self.rnd.randint(32, 0x2FFFF)) for _ in range(n))
                .encode("utf-8", "replace")
                .decode("utf-8", "replace")
            )
        return "".join(self.rnd.choice(UNICODE_POOL) for _ in range(n))

    def garbage(self, depth: int = 0) -> Any:
        roll = self.rnd.random()
        if depth > 3 or roll < 0.5:
            return self.rnd.choice(
                [None, True, 0, -1, 2**63, 2**70, 1.5, float("1e308"), "", self.text(), [], {}]
            )
        if roll < 0.75:
            return [self.garbage(depth + 1) for _ in range(self.rnd.randint(0, 3))]
        return {self._chars(5): self.garbage(depth + 1) for _ in range(self.rnd.randint(0, 3))}

    def entities(self, text: str) -> list[dict[str, Any]]:
        found = []
        for _ in range(self.rnd.randint(0, 4)):
            entity: dict[str, Any] = {
                "type": self.rnd.choice(ENTITY_TYPES),
                "offset": self.rnd.choice(
                    [0, 1, len(text), len(text) + 5, self.rnd.randint(0, 50)]
                ),
                "length": self.rnd.choice([0, 1, 6, len(text), 10_000]),
            }
            if entity["type"] == "text_link":
                entity["url"] = self.rnd.choice(["https://example.org", "javascript:x", ""])
            if entity["type"] == "text_mention":
                entity["user"] = self.rnd.choice(self.people).user
            if entity["type"] == "pre" and self.rnd.random() < 0.5:
                entity["language"] = self._chars(8)
            found.append(entity)
        return found

    def sender(self) -> dict[str, Any] | None:
        roll = self.rnd.random()
        if roll < 0.8:
            return dict(self.rnd.choice(self.people).user)
        if roll < 0.87:
            return self.other_bot
        if roll < 0.94:
            return self.anonymous
        return None

    def chat_for(self, sender: dict[str, Any] | None) -> dict[str, Any]:
        roll = self.rnd.random()
        if sender is not None and not sender["is_bot"] and roll < 0.75:
            return self.tg.chats[sender["id"]]
        if roll < 0.92:
            return self.rnd.choice(self.groups)
        return self.channel

    def message(self) -> dict[str, Any]:
        sender = self.sender()
        chat = self.chat_for(sender)
        message: dict[str, Any] = {
            "message_id": self.tg.next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
        }
        if sender is not None:
            message["from"] = sender
        if sender is self.anonymous or chat is self.channel:
            message["sender_chat"] = chat
        content = self.rnd.random()
        if content < 0.6:
            message["text"] = self.text()
            if self.rnd.random() < 0.5:
                message["entities"] = self.entities(message["text"])
        else:
            message.update(self.media())
        if self.rnd.random() < 0.1:
            message["reply_to_message"] = {
                "message_id": 1,
                "date": 1,
                "chat": chat,
                "from": self.tg.bot_user,
                "text": "earlier",
            }
        return message

    def media(self) -> dict[str, Any]:
        file = {"file_id": f"F{self.rnd.randint(0, 9)}", "file_unique_id": "U1"}
        caption = {"caption": self.text()} if self.rnd.random() < 0.4 else {}
        kind = self.rnd.choice(
            ["sticker", "photo", "voice", "video_note", "audio", "document", "location",
             "venue", "poll", "contact", "dice", "new_chat_members", "left_chat_member",
             "pinned_message", "game", "story"]
        )  # fmt: skip
        if kind == "sticker":
            return {"sticker": {**file, "type": "regular", "width": 1, "height": 1,
                                "is_animated": False, "is_video": False}}  # fmt: skip
        if kind == "photo":
            return {"photo": [{**file, "width": 1, "height": 1}], **caption}
        if kind in ("voice", "audio"):
            return {kind: {**file, "duration": self.rnd.choice([0, 1, 10**6])}, **caption}
        if kind == "video_note":
            return {"video_note": {**file, "length": 1, "duration": 1}}
        if kind == "document":
            mime = self.rnd.choice(["audio/ogg", "application/pdf", "", "audio/" + self._chars(3)])
            size = {"file_size": self.rnd.choice([1, 10**9])}
            return {"document": {**file, "mime_type": mime, **size}, **caption}
        if kind == "location":
            return {"location": {"latitude": self.rnd.uniform(-90, 90), "longitude": 0.0}}
        if kind == "venue":
            location = {"latitude": 1.0, "longitude": 2.0}
            return {"venue": {"location": location, "title": self.text(), "address": "x"}}
        if kind == "poll":
            return {"poll": {"id": "p", "question": self.text(), "options": [],
                             "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                             "type": "regular", "allows_multiple_answers": False,
                             "allows_revoting": False, "members_only": False}}  # fmt: skip
        if kind == "contact":
            return {"contact": {"phone_number": self.text(), "first_name": self.text()}}
        if kind == "dice":
            return {"dice": {"emoji": "🎲", "value": self.rnd.randint(1, 6)}}
        if kind == "new_chat_members":
            return {"new_chat_members": [self.tg.bot_user, self.rnd.choice(self.people).user]}
        if kind == "left_chat_member":
            return {"left_chat_member": self.tg.bot_user}
        if kind == "pinned_message":
            return {"pinned_message": {"message_id": 1, "date": 0, "chat": self.groups[0]}}
        if kind == "game":
            return {"game": {"title": self.text(), "description": "d", "photo": []}}
        return {"story": {"chat": self.channel, "id": 1}}

    def callback_query(self) -> dict[str, Any]:
        person = self.rnd.choice(self.people)
        prefix = self.rnd.choice(CALLBACK_PREFIXES)
        data = prefix + self.rnd.choice(
            ["", "0", "-1", "99999999999999999999", "ru", "en:onboard", "accept", "yes", "no",
             ":0:anna", "support:1:", "::x:", "x" * 70, self._chars(10), "1:2:3:4:5:6",
             "month", "year", "pro_month", "30"]
        )  # fmt: skip
        query: dict[str, Any] = {
            "id": f"fz{self.next_id}",
            "from": person.user,
            "chat_instance": "ci",
            "data": data,
        }
        self.next_id += 1
        own = [m for (chat_id, _), m in self.tg.messages.items() if chat_id == person.id]
        roll = self.rnd.random()
        if own and roll < 0.7:
            query["message"] = copy.deepcopy(self.rnd.choice(own))  # a real (maybe stale) one
        elif roll < 0.8:
            # A message too old for the bot to see: Telegram sends it "inaccessible".
            query["message"] = {"chat": person.chat, "message_id": 1, "date": 0}
        elif roll < 0.9:
            query["inline_message_id"] = "inline-1"
            del query["data"]
            query["game_short_name"] = "game"
        if self.rnd.random() < 0.9:
            self.tg.register_callback_query(query)  # else: too old to answer
        return query

    def update(self) -> dict[str, Any]:
        kind = self.rnd.choices(
            ["message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
             "my_chat_member", "pre_checkout_query", "unknown", "empty"],
            weights=[40, 8, 4, 3, 25, 5, 6, 3, 1],
        )[0]  # fmt: skip
        self.kinds[kind] += 1
        body: dict[str, Any] = {"update_id": self.next_id}
        self.next_id += 1
        if kind in ("message", "edited_message"):
            message = self.message()
            if kind == "edited_message":
                message["edit_date"] = int(time.time())
            body[kind] = message
        elif kind in ("channel_post", "edited_channel_post"):
            post = {"message_id": 1, "date": 1, "chat": self.channel, "text": self.text()}
            body[kind] = post
        elif kind == "callback_query":
            body[kind] = self.callback_query()
        elif kind == "my_chat_member":
            person = self.rnd.choice(self.people)
            status = self.rnd.choice(["member", "kicked", "left", "weird"])
            body[kind] = {
                "chat": person.chat,
                "from": person.user,
                "date": 1,
                "old_chat_member": {"status": "member", "user": self.tg.bot_user},
                "new_chat_member": {"status": status, "user": self.tg.bot_user, "until_date": 0},
            }
        elif kind == "pre_checkout_query":
            body[kind] = {
                "id": f"pcq{self.next_id}",
                "from": self.rnd.choice(self.people).user,
                "currency": self.rnd.choice(["XTR", "RUB", "", "💰"]),
                "total_amount": self.rnd.choice([1, 0, -5, 2**31, 2**64]),
                "invoice_payload": self.rnd.choice(
                    [
                        self.text(),
                        "pro:30",
                        "pro:" + "9" * 40,
                        json.dumps({"x": 1}),
                        "\x00",
                        f"month:{self.rnd.choice(self.people).id}:ab12:{self._chars(6)}",
                        "month:²:ab12:0123456789abcdef",
                        ":::",
                    ]
                ),
            }
        elif kind == "unknown":
            body[self.rnd.choice(["business_thing", "future_update", "x"])] = self.garbage()
        # A copy: damage must not reach the emulator's own chats and people.
        return self.damage(copy.deepcopy(body)) if self.rnd.random() < 0.15 else body

    def damage(self, body: dict[str, Any]) -> dict[str, Any]:
        """Drop or mistype one field somewhere in the update (schema failures)."""
        node: Any = body
        for _ in range(self.rnd.randint(1, 3)):
            keys = (
                [k for k, v in node.items() if isinstance(v, dict)]
                if isinstance(node, dict)
                else []
            )
            if not keys:
                break
            node = node[self.rnd.choice(keys)]
        if isinstance(node, dict) and node:
            key = self.rnd.choice(sorted(node))
            # A chat id of another type fails the schema; another number is a chat Telegram
            # would never send (replies to it are refused: a real error, not this test's case).
            if self.rnd.random() < 0.5 or key == "id":
                del node[key]
            else:
                node[key] = self.garbage()
        return body


@pytest.fixture
async def hook(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    """The webhook worker as `companion bot --webhook` wires it, billing included (YooKassa
    through its emulator, Telegram Stars), so payment buttons and pre-checkout queries reach
    the real billing code."""
    async with YooKassaEmulator() as yookassa:
        settings = bot_settings.model_copy(
            update={
                "billing": bot_settings.billing.model_copy(
                    update={
                        "yookassa_shop_id": yookassa.shop_id,
                        "yookassa_secret_key": SecretStr(yookassa.secret_key),
                        "yookassa_api_url": yookassa.base_url,
                        "stars_enabled": True,
                    }
                ),
                "telegram": bot_settings.telegram.model_copy(
                    update={"webhook_url": f"http://127.0.0.1:{free_port()}"}
                ),
            }
        )
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        async with build_app(settings, watch_personas=False) as app:
            assert app.redis is not None and app.telegram is not None
            assert settings.telegram.webhook_url
            bot = app.telegram
            dp = build_dispatcher(app.bot_services(), build_fsm_storage(app.redis, settings.redis))
            runner = web.AppRunner(create_webhook_app(bot, dp, settings.telegram))
            await runner.setup()
            port = int(settings.telegram.webhook_url.rsplit(":", 1)[1])
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await register_webhook(bot, dp, settings.telegram)
            harness = BotHarness(tg, llm, settings, app, bot, dp, app.redis, mongo)
            harness.webhook_url = f"{settings.telegram.webhook_url}{settings.telegram.webhook_path}"
            harness.webhook_runner = runner
            try:
                yield harness
            finally:
                await runner.cleanup()  # also closes the bot session
                await mongo.drop_database(settings.mongo.database)
                await mongo.close()
                prefix = settings.redis.key_prefix
                keys = [k async for k in app.redis.scan_iter(f"{prefix}:*")]
                if keys:
                    await app.redis.delete(*keys)


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def _quiet(harness: BotHarness, timeout: float = 60) -> None:
    """Until no update is being handled for a while (handling runs after the 200)."""
    inflight = harness.dp.workflow_data["inflight"]
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 1.0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{inflight.count} update(s) still running after {timeout}s")
        await asyncio.sleep(0.05)
        if inflight.count:
            quiet_since = time.monotonic()


async def test_random_updates_through_the_webhook(
    hook: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    watched = LoopErrors(caplog)
    watched.install()
    rnd = random.Random(SEED)
    hook.llm.reply = "Fuzzed reply."
    people = [hook.user(7100 + n, language_code=rnd.choice(["en", "ru", None])) for n in range(12)]
    for person in people[:4]:  # four past onboarding: text reaches a persona, /forget, billing
        await hook.onboard(person)
        await hook.choose(person, "mark")
    fuzzer = Fuzzer(rnd, hook, people)
    assert hook.webhook_url is not None
    url = hook.webhook_url
    statuses: Counter[int] = Counter()
    sent = 0
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while sent < MAX_UPDATES and time.monotonic() - started < SECONDS:
            batch: list[tuple[bytes, str | None]] = []
            for _ in range(BATCH):
                roll = rnd.random()
                secret: str | None = WEBHOOK_SECRET
                if roll < 0.02:
                    secret = rnd.choice([None, "", "wrong", "секрет", WEBHOOK_SECRET + "é"])
                if roll > 0.99:
                    body = rnd.choice([b"", b"{", b"null", b"[1, 2]", b'"x"', b"\xff\xfe"])
                else:
                    body = json.dumps(fuzzer.update()).encode()
                batch.append((body, secret.encode().decode("latin-1") if secret else secret))
            results = await asyncio.gather(*(_post(session, url, b, s) for b, s in batch))
            statuses.update(results)
            sent += len(batch)
    elapsed = time.monotonic() - started
    await _quiet(hook)

    context = f"seed={SEED} sent={sent} in {elapsed:.0f}s statuses={dict(statuses)}"
    assert sent >= MIN_UPDATES, context
    assert all(status < 500 for status in statuses), context
    assert statuses[200] > 0.9 * sent, context
    assert watched.errors() == [], context
    # The fuzz reached the handlers, not only the schema check.
    answered = Counter(call.method for call in hook.tg.calls if call.ok)
    context += f" answered={dict(answered.most_common(6))}"
    assert answered["sendMessage"] > 100 and answered["answerCallbackQuery"] > 100, context
    assert len(hook.tg.pre_checkout_answers) > 50, context
    leaked = [r.getMessage()[:120] for r in caplog.records if CANARY in record_text(r)]
    assert not leaked, f"{context}: user text in logs, e.g. {leaked[:3]}"

    # A normal person, new to the bot, is still served from start to a persona's reply.
    newcomer = hook.user(7300)
    await hook.onboard(newcomer)
    await hook.choose(newcomer, "mark")
    hook.llm.reply = "Still here after the storm."
    await newcomer.say("Hello?")
    await newcomer.expect("sendMessage", contains="Still here after the storm.")
    assert watched.errors() == [], context
    registry = hook.dp.workflow_data["metrics"].registry
    counted = {
        sample.labels["reason"]: sample.value
        for metric in registry.collect()
        if metric.name == "companion_bad_updates"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    print(context, dict(fuzzer.kinds), counted)


@pytest.mark.parametrize(
    "payload", ["month:7401:ab12:é0123456789abcd", "month:²:ab12:0123456789ab"]
)
async def test_pre_checkout_with_a_forged_payload_is_refused_politely(
    hook: BotHarness, caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    """Found by the fuzz: a non-ASCII signature made the payload check raise TypeError."""
    caplog.set_level(logging.INFO)
    watched = LoopErrors(caplog)
    watched.install()
    person = hook.user(7401)
    query = {
        "id": "pcq-forged",
        "from": person.user,
        "currency": "XTR",
        "total_amount": 100,
        "invoice_payload": payload,
    }
    await hook.tg.push_update({"pre_checkout_query": query})
    deadline = time.monotonic() + 15
    while "pcq-forged" not in hook.tg.pre_checkout_answers:
        assert time.monotonic() < deadline, "the pre-checkout query was never answered"
        await asyncio.sleep(0.05)
    answer = hook.tg.pre_checkout_answers["pcq-forged"]
    assert answer.get("ok") in (False, "false", "False")
    assert answer.get("error_message")
    assert watched.errors() == []
