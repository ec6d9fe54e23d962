"""The real bot process while its model server dies mid-reply and comes back (issue 13)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.faults.harness import story_world

RECOVERY_S = 10.0
STORY = " ".join(["Once upon a time there was a quiet harbour town by the sea."] * 12)


async def test_llm_killed_mid_stream(tmp_path: Path) -> None:
    async with story_world(tmp_path, STORY, token_delay_s=0.1) as (world, llm):
        user = await world.chatting_user(7301)
        await user.say("Tell me a story")
        await user.expect("sendMessageDraft", contains="harbour", timeout=30)
        llm.kill()
        # A polite word about the broken reply, not the generic error, and no half story
        # passed off as a whole one.
        await user.expect("sendMessage", contains="couldn't finish", timeout=30)
        assert not any("harbour" in (c.text or "") for c in user.calls("sendMessage"))

        # While the model is down, a new message waits for it instead of failing.
        await user.say("Are you back?")
        await asyncio.sleep(4)
        assert len([c for c in user.calls("sendMessage") if "couldn't" in (c.text or "")]) == 1
        assert not world.apologies(user)

        await llm.start(reply="Back again.")
        recovered = time.monotonic()
        assert await world.answered(user, "Back again.", timeout=30) - recovered < RECOVERY_S
        await user.say("And now?")
        again = time.monotonic()
        assert await world.answered(user, "Back again.", timeout=30) - again < RECOVERY_S
        assert not world.apologies(user)
