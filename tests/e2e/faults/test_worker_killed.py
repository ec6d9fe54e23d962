"""The real bot process killed (SIGKILL) mid-reply and started again: the message it had
answered 200 for is answered after all, once (companion/bot/delivery.py, held updates)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.faults.harness import story_world

LEASE_S = 4.0
STORY = " ".join(["Once upon a time there was a quiet harbour town by the sea."] * 6)


async def test_a_worker_killed_mid_reply_answers_after_its_restart(tmp_path: Path) -> None:
    async with story_world(
        tmp_path,
        STORY,
        token_delay_s=0.05,
        extra_env={"COMPANION_TELEGRAM__UPDATE_HOLD_LEASE_S": str(LEASE_S)},
    ) as (world, llm):
        user = await world.chatting_user(7501)
        await user.say("Tell me a story")
        # Mid-reply: the first words are on screen as a draft, the reply is not stored yet.
        await user.expect("sendMessageDraft", contains="harbour", timeout=30)
        await world.kill_bot()
        killed = time.monotonic()
        assert not [c for c in user.calls("sendMessage") if "harbour" in (c.text or "")]

        await world.restart_bot()
        answered = await world.answered(user, "harbour", timeout=90)
        # Within the lease after the restart (the restart itself is most of the wait).
        assert answered - killed < LEASE_S + 60
        assert "left unfinished by a worker that stopped" in world.bot_log()

        # Once: nothing comes again when further leases have run out.
        await asyncio.sleep(LEASE_S * 2)
        stories = [c for c in user.calls("sendMessage") if "harbour" in (c.text or "")]
        assert len(stories) == 1
        assert STORY.split(".")[0] in (stories[0].text or "")
        assert not world.apologies(user)

        # The conversation goes on as usual.
        llm.kill()
        await llm.start(reply="Glad you liked it.")
        await user.say("Thank you!")
        await world.answered(user, "Glad you liked it.", timeout=30)
