"""`companion billing ...` against the real database and Redis."""

from __future__ import annotations

import uuid

import pytest
from pymongo import MongoClient
from typer.testing import CliRunner

from companion.cli.billing import app
from tests.conftest import REDIS_URL


@pytest.fixture
def env(monkeypatch, mongo_uri, redis_prefix):
    database = f"cli_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("COMPANION_MONGO__URI", mongo_uri)
    monkeypatch.setenv("COMPANION_MONGO__DATABASE", database)
    monkeypatch.setenv("COMPANION_REDIS__URL", REDIS_URL)
    monkeypatch.setenv("COMPANION_REDIS__KEY_PREFIX", redis_prefix)
    yield database
    client: MongoClient[dict[str, object]] = MongoClient(mongo_uri)
    client.drop_database(database)
    client.close()


def test_plans_grant_status_and_jobs(env):
    runner = CliRunner()
    result = runner.invoke(app, ["plans"])
    assert result.exit_code == 0, result.output
    assert "pro_month" in result.output and "449.00" in result.output

    result = runner.invoke(app, ["grant", "--user", "77", "--plan", "pro_week", "--days", "5"])
    assert result.exit_code == 0, result.output
    assert "user 77: PRO until" in result.output

    result = runner.invoke(app, ["status", "--user", "77"])
    assert result.exit_code == 0, result.output
    assert "active" in result.output and "PRO yes" in result.output

    result = runner.invoke(app, ["grant", "--user", "77", "--plan", "gold", "--days", "5"])
    assert result.exit_code == 1
    assert "unknown plan" in result.output

    result = runner.invoke(app, ["run-jobs"])
    assert result.exit_code == 0, result.output
    assert "reconcile: checked 0" in result.output
