"""The central error handler: a failure inside a handler gets a polite answer, never a trace,
and the bot keeps serving."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.bot.conftest import BotHarness


async def test_a_failing_service_gets_a_polite_answer(
    harness: BotHarness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = harness.user(7001)
    await harness.onboard(user)

    async def broken_export(user_id: int) -> dict[str, object]:
        raise RuntimeError("database exploded at /secret/path")

    monkeypatch.setattr(harness.container.user_data, "export", broken_export)
    with caplog.at_level(logging.ERROR, logger="companion.bot.errors"):
        await user.command("export")
        answer = await user.expect("sendMessage", contains="something went wrong")
    assert "exploded" not in (answer.text or "") and "Traceback" not in (answer.text or "")
    record = next(r for r in caplog.records if r.name == "companion.bot.errors")
    assert getattr(record, "update_id", None) is not None
    assert getattr(record, "trace_id", None)

    await user.command("help")  # still alive
    await user.expect("sendMessage", contains="/persona")


async def test_blocked_user_is_not_an_error(harness: BotHarness) -> None:
    user = harness.user(7002)
    await harness.onboard(user)
    harness.tg.block(user.id)
    await user.command("help")
    await user.idle()
    refused = [c for c in user.calls() if c.error_code == 403]
    assert len(refused) == 1  # the help text; no apology attempted after "blocked"
