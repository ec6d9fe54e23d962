"""A hostile persona file in the library does not keep the bot from starting with the others."""

from __future__ import annotations

from pathlib import Path

from companion.config import Settings
from tests.e2e.bot.conftest import running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator


async def test_bot_starts_with_the_good_cards_and_reports_the_bad(
    bot_settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    mongo_uri: str,
    personas_dir: Path,
) -> None:
    (personas_dir / "deep.yaml").write_text("id: deep\nname: " + "[" * 1000 + "]" * 1000 + "\n")
    chain = ["id: bomb", "a0: &a0 {k0: 1}"]
    chain += [f"a{i}: &a{i} {{<<: *a{i - 1}, k{i}: 1}}" for i in range(1, 1500)]
    (personas_dir / "bomb.yaml").write_text("\n".join(chain) + "\n")
    async with running_bot(bot_settings, tg, llm, mongo_uri) as harness:
        personas = harness.container.personas
        assert {p.id for p in personas.all()} == {"anna", "mark", "star", "lily"}
        assert sorted(str(issue).split(" ")[0] for issue in personas.errors) == [
            "bomb.yaml:159:",  # where the expansion passes the limit
            "deep.yaml:2:",
        ]
        user = harness.user(6901)
        await harness.onboard(user)
        await harness.choose(user, "mark")
