"""`companion memory ...` is built by the composition root (`companion.app.build_app`), and what
memory holds stays reachable after memory is switched off: it is still someone's data."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from companion.cli.memory import app
from tests.integration.memory.test_cli import _count, _seed, cli_env

__all__ = ["cli_env"]  # the fixture, shared with test_cli


def test_facts_are_listed_and_forgotten_with_memory_switched_off(
    mongo_uri: str, cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_seed(mongo_uri, cli_env))
    monkeypatch.setenv("COMPANION_MEMORY__ENABLED", "false")
    runner = CliRunner()

    listed = runner.invoke(app, ["list", "--user", "5"])
    assert listed.exit_code == 0, listed.output
    assert "The user works as a florist" in listed.output

    forgotten = runner.invoke(app, ["forget", "--user", "5", "--yes"])
    assert forgotten.exit_code == 0, forgotten.output
    assert "2 facts" in forgotten.output
    assert asyncio.run(_count(mongo_uri, cli_env)) == 0


def test_an_unreachable_database_is_one_line(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPANION_MONGO__URI", "mongodb://ops:topsecret@127.0.0.1:9/")
    monkeypatch.setenv("COMPANION_MONGO__SERVER_SELECTION_TIMEOUT_MS", "500")
    failed = CliRunner().invoke(app, ["list", "--user", "5"])
    assert failed.exit_code == 1
    assert "cannot reach MongoDB" in failed.output
    assert "topsecret" not in failed.output and "Traceback" not in failed.output
