"""Data rights through the bot: /memory (see and delete facts), /export, /forget."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest

from companion.app import Overrides
from companion.config import Settings
from companion.domain.models import utcnow
from companion.memory.facts import Fact
from companion.memory.store import FactStore
from companion.storage.crypto import load_cipher
from tests.e2e.bot.conftest import BotHarness, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator


class StoredFacts:
    """/memory over the memory issue's real fact store (its MemoryService adds only recall
    and learning on top, which these tests do not need)."""

    def __init__(self, store: FactStore) -> None:
        self.store = store

    async def list_facts(self, user_id: int) -> Sequence[Fact]:
        return await self.store.all(user_id)

    async def delete_fact(self, user_id: int, fact_id: str) -> bool:
        return await self.store.delete(user_id, fact_id, tombstone=True) is not None

    async def edit_fact(self, user_id: int, fact_id: str, text: str) -> Fact | None:
        current = await self.store.get(user_id, fact_id)
        if current is None:
            return None
        new = current.model_copy(update={"text": text})
        vector = np.ones(384, dtype=np.float32)
        return await self.store.replace_text(current, new, vector, reason="user", now=utcnow())

    async def add(self, user_id: int, text: str) -> Fact:
        fact = Fact(id=uuid.uuid4().hex, user_id=user_id, text=text)
        return await self.store.insert(fact, np.ones(384, dtype=np.float32))


@pytest.fixture
async def data_harness(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[tuple[BotHarness, StoredFacts]]:
    holder: dict[str, StoredFacts] = {}

    class Late:
        # The store needs the container's database, which exists only inside running_bot.
        async def list_facts(self, user_id: int) -> Sequence[Fact]:
            return await holder["facts"].list_facts(user_id)

        async def delete_fact(self, user_id: int, fact_id: str) -> bool:
            return await holder["facts"].delete_fact(user_id, fact_id)

        async def edit_fact(self, user_id: int, fact_id: str, text: str) -> Fact | None:
            return await holder["facts"].edit_fact(user_id, fact_id, text)

    async with running_bot(
        bot_settings, tg, llm, mongo_uri, overrides=Overrides(memory_facts=Late())
    ) as harness:
        cipher = load_cipher(bot_settings.privacy, bot_settings.environment)
        holder["facts"] = StoredFacts(FactStore(harness.container.database.db, cipher))
        yield harness, holder["facts"]


async def test_memory_lists_and_deletes_facts(
    data_harness: tuple[BotHarness, StoredFacts],
) -> None:
    harness, facts = data_harness
    user = harness.user(4001)
    await harness.onboard(user)
    await user.command("memory")
    await user.expect("sendMessage", contains="don't remember anything")

    first = await facts.add(4001, "Works as a nurse <in> Kazan & loves it")
    await facts.add(4001, "Has a cat named Luna")
    await facts.add(4002, "Someone else's fact")
    await user.command("memory")
    listing = await user.expect("sendMessage", contains="What I remember")
    assert "Works as a nurse <in> Kazan & loves it" in (listing.text or "")
    assert "Has a cat named Luna" in (listing.text or "")
    assert "Someone else" not in (listing.text or "")
    buttons = [data for _, data in user.buttons() if data.startswith("mem:del:")]
    assert len(buttons) == 2

    await user.press(f"mem:del:{first.id}")
    await user.expect("editMessageText", contains="Has a cat named Luna")
    assert "nurse" not in (user.history()[-1]["text"])
    remaining = await facts.list_facts(4001)
    assert [f.text for f in remaining] == ["Has a cat named Luna"]
    answer = harness.tg.answered_callbacks[max(harness.tg.answered_callbacks)]
    assert answer.get("text") == "Deleted."


async def test_memory_rewords_a_fact_in_the_users_words(
    data_harness: tuple[BotHarness, StoredFacts],
) -> None:
    harness, facts = data_harness
    user = harness.user(4011)
    await harness.onboard(user)
    dog = await facts.add(4011, "Has a dog named Rex")
    await facts.add(4011, "Lives in Tver")
    await user.command("memory")
    await user.expect("sendMessage", contains="What I remember")
    await user.press("mem:editmode:")
    await user.expect("editMessageText", contains="tap a number to reword")
    assert f"mem:edit:{dog.id}" in [data for _, data in user.buttons()]

    await user.press(f"mem:edit:{dog.id}")
    await user.expect("sendMessage", contains="Has a dog named Rex")
    # Too long: asked again, nothing changed.
    await user.say("x" * 400)
    await user.expect("sendMessage", contains="up to 300 characters")
    await user.say("  Has a  cat named <Murka>  ")
    await user.expect("sendMessage", contains="Saved")
    listing = await user.expect("sendMessage", contains="What I remember")
    assert "Has a cat named <Murka>" in (listing.text or "")
    stored = {f.id: f.text for f in await facts.list_facts(4011)}
    assert stored[dog.id] == "Has a cat named <Murka>"
    assert sorted(stored.values()) == ["Has a cat named <Murka>", "Lives in Tver"]

    # Cancel leaves the fact alone; after it, free text goes to the persona again.
    await user.press("mem:editmode:")
    await user.press(f"mem:edit:{dog.id}")
    await user.expect("sendMessage", contains="Has a cat named")
    await user.press("mem:cancel:")
    await user.expect("editMessageText", contains="nothing changed")
    # A command while a wording is awaited runs as a command and drops the edit.
    await user.press(f"mem:edit:{dog.id}")
    await user.expect("sendMessage", contains="Has a cat named")
    await user.command("help")
    await user.expect("sendMessage", contains="/memory")
    await user.say("Hello there")
    await user.idle()
    stored_after = sorted(f.text for f in await facts.list_facts(4011))
    assert stored_after == ["Has a cat named <Murka>", "Lives in Tver"]


async def test_export_sends_my_data_as_json(harness: BotHarness) -> None:
    user = await harness.chatted_user(4003)
    await user.command("export")
    call = await user.expect("sendDocument")
    document = call.upload("document")
    assert document is not None
    assert document.file_name == "companion-export-4003.json"
    exported = json.loads(document.data)
    text = json.dumps(exported, ensure_ascii=False)
    assert "I work as a nurse in Kazan." in text  # decrypted, readable
    assert "Glad to hear it." in text
    assert "4004" not in text


async def test_forget_erases_everything_after_confirmation(harness: BotHarness) -> None:
    other = await harness.chatted_user(4005)
    user = await harness.chatted_user(4006)
    before = await harness.count_user_documents(4006)
    assert before["users"] == 1 and before["messages"] >= 3 and before["conversations"] == 1

    await user.command("forget")
    await user.expect("sendMessage", contains="erase")
    await user.press(text="Cancel")
    await user.expect("editMessageText", contains="nothing was erased")
    assert await harness.count_user_documents(4006) == before

    await user.command("forget")
    await user.expect("sendMessage", contains="erase")
    await user.press(text="Yes, erase everything")
    await user.expect("editMessageText", contains="all your data has been erased")
    after = await harness.count_user_documents(4006)
    assert sum(after.values()) == 0, after
    assert (await harness.count_user_documents(4005))["messages"] >= 3  # others untouched

    # Erased means unknown: the next message asks for consent again and reaches no model.
    requests = len(harness.llm.chat_requests)
    await user.say("Hello again")
    await user.expect("sendMessage", contains="accept the terms")
    assert len(harness.llm.chat_requests) == requests
    assert sum((await harness.count_user_documents(4006)).values()) == 0
    fsm_keys = [
        key async for key in harness.redis.scan_iter(f"{harness.settings.redis.key_prefix}:*4006*")
    ]
    assert not [k for k in fsm_keys if b"bot:user" in k]
    del other


async def test_commands_menu_in_both_languages(harness: BotHarness) -> None:
    for _ in range(50):  # set at start-up: ru, en and the default
        if len([c for c in harness.tg.calls if c.method == "setMyCommands" and c.ok]) >= 3:
            break
        await asyncio.sleep(0.1)
    menus = harness.tg.commands
    for language in ("ru", "en", ""):
        names = [c["command"] for c in menus[("default", language)]]
        assert {"start", "persona", "reset", "memory", "forget", "export", "lang", "help"} <= set(
            names
        )
    ru = {c["command"]: c["description"] for c in menus[("default", "ru")]}
    en = {c["command"]: c["description"] for c in menus[("default", "en")]}
    assert ru["forget"] != en["forget"]
