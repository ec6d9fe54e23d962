"""The composition root (`companion.app.build_app`) against real MongoDB-wire and Redis: what it
builds follows the settings, and what a front-end does not need is not started."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient, MongoClient
from redis.asyncio import Redis
from typer.testing import CliRunner

from companion.app import Overrides, build_app
from companion.bot.runner import BotConfigError
from companion.bot.services import NoMemory, NoSpeech
from companion.cli.billing import app as billing_cli
from companion.config import Environment, Settings
from companion.storage.embedded import free_port
from tests.conftest import REDIS_URL


def _settings(mongo_uri: str, prefix: str, **billing: object) -> Settings:
    return Settings(
        environment=Environment.TEST,
        mongo={"uri": mongo_uri, "database": f"app_{uuid.uuid4().hex[:10]}"},
        redis={"url": REDIS_URL, "key_prefix": prefix},
        llm={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "max_retries": 0},
        telegram={"token": "123456:TEST-token"},
        memory={"enabled": False},
        personas={"hot_reload": False},
        privacy={"encryption_key": base64.b64encode(os.urandom(32)).decode()},
        billing=billing,
    )


async def _drop(settings: Settings) -> None:
    assert settings.mongo.uri is not None
    uri = settings.mongo.uri.get_secret_value()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    await client.drop_database(settings.mongo.database)
    await client.close()


async def test_entitlement_cache_lives_as_long_as_billing_settings_say(
    mongo_uri: str, redis_client: Redis, redis_prefix: str
) -> None:
    """billing.entitlement_cache_ttl_s reached `companion billing` only; the bot kept 30 s."""
    settings = _settings(mongo_uri, redis_prefix, entitlement_cache_ttl_s=5)
    try:
        async with build_app(settings, watch_personas=False) as app:
            assert await app.entitlements.subscription(4711) is None  # cached: no subscription
        ttl = await redis_client.ttl(f"{redis_prefix}:billing:subscription:4711")
        assert 0 < ttl <= 5
    finally:
        await _drop(settings)
        await redis_client.delete(f"{redis_prefix}:billing:subscription:4711")


async def test_the_bot_gets_typed_services_and_disabled_variants(
    mongo_uri: str, redis_prefix: str
) -> None:
    settings = _settings(mongo_uri, redis_prefix)
    try:
        async with build_app(settings, watch_personas=False) as app:
            services = app.bot_services()
            # Memory is off and no pool was started: typed stand-ins, not None.
            assert isinstance(services.memory, NoMemory)
            assert isinstance(services.speech_pool, NoSpeech)
            # Stars are wired for existing subscribers even when not sold.
            assert services.stars_billing is app.billing.stars
            assert services.stars_billing.selling is False
            assert services.erasure is app.erasure
    finally:
        await _drop(settings)


async def test_one_clock_override_moves_billing(mongo_uri: str, redis_prefix: str) -> None:
    """A test moves time for every service through `Overrides.clock`, not per service."""
    settings = _settings(mongo_uri, redis_prefix)
    moment = datetime(2031, 2, 3, 4, 5, 6, 789_123, tzinfo=UTC)
    try:
        async with build_app(
            settings, Overrides(clock=lambda: moment), watch_personas=False
        ) as app:
            # At the millisecond precision stored dates come back with.
            assert app.billing.service.now() == moment.replace(microsecond=789_000)
            granted = await app.billing.admin.grant(4712, "pro_month", 30, by=1)
            assert granted.current_period_end == moment.replace(microsecond=789_000) + timedelta(
                days=30
            )
    finally:
        await _drop(settings)


async def test_the_terminal_chat_has_no_redis_and_cannot_serve_the_bot(
    mongo_uri: str, redis_prefix: str
) -> None:
    settings = _settings(mongo_uri, redis_prefix)
    try:
        async with build_app(settings, use_redis=False, watch_personas=False) as app:
            assert app.redis is None
            try:
                app.bot_services()
            except BotConfigError as exc:
                assert "Redis" in str(exc)
            else:
                raise AssertionError("the bot was served without Redis")
    finally:
        await _drop(settings)


def test_billing_commands_work_while_redis_is_down(
    monkeypatch: pytest.MonkeyPatch, mongo_uri: str, redis_prefix: str
) -> None:
    """`companion billing` builds through build_app; without Redis it warns and goes on (the
    bot's cached entitlements refresh within their TTL)."""
    database = f"cli_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("COMPANION_MONGO__URI", mongo_uri)
    monkeypatch.setenv("COMPANION_MONGO__DATABASE", database)
    monkeypatch.setenv("COMPANION_REDIS__URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("COMPANION_REDIS__KEY_PREFIX", redis_prefix)
    monkeypatch.setenv("COMPANION_TELEGRAM__TOKEN", "123456:TEST-token")
    monkeypatch.setenv("COMPANION_MEMORY__ENABLED", "false")
    try:
        runner = CliRunner()
        grant = ["grant", "--user", "78", "--plan", "pro_week", "--days", "5"]
        result = runner.invoke(billing_cli, grant)
        assert result.exit_code == 0, result.output
        assert "warning" in result.output and "user 78: PRO until" in result.output
        result = runner.invoke(billing_cli, ["status", "--user", "78"])
        assert result.exit_code == 0, result.output
        assert "PRO yes" in result.output
    finally:
        client: MongoClient[dict[str, object]] = MongoClient(mongo_uri)
        client.drop_database(database)
        client.close()
