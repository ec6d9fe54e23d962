"""build_app(warm_up=True): the in-process model loads in the background and /readyz's
"models" check is false until it is warm; without warm_up nothing is loaded up front."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path

from companion.app import build_app
from companion.config import Environment, Settings
from tests.conftest import REDIS_URL


def _settings(mongo_uri: str, prefix: str, model_dir: Path) -> Settings:
    return Settings(
        environment=Environment.TEST,
        mongo={"uri": mongo_uri, "database": f"app_{uuid.uuid4().hex[:10]}"},
        redis={"url": REDIS_URL, "key_prefix": prefix},
        llm={"backend": "local", "local_model": str(model_dir)},
        memory={"enabled": False},
        personas={"hot_reload": False},
        privacy={"encryption_key": base64.b64encode(os.urandom(32)).decode()},
    )


async def test_models_are_warmed_up_in_the_background(
    mongo_uri: str, redis_prefix: str, tiny_model_dir: Path
) -> None:
    settings = _settings(mongo_uri, redis_prefix, tiny_model_dir)
    async with build_app(settings, use_redis=False, watch_personas=False, warm_up=True) as app:
        assert app.warmup is not None and app.warmup.names == ["llm"]
        status = await app.readiness.status()
        assert "models" in status
        assert await asyncio.wait_for(app.warmup.wait(), 120)
        assert getattr(app.llm, "loaded", False)
        # The cached status expires quickly; poll rather than sleep a fixed time.
        for _ in range(100):
            if (await app.readiness.status()).get("models"):
                break
            await asyncio.sleep(0.05)
        assert (await app.readiness.status())["models"] is True


async def test_without_warm_up_nothing_loads_up_front(
    mongo_uri: str, redis_prefix: str, tiny_model_dir: Path
) -> None:
    settings = _settings(mongo_uri, redis_prefix, tiny_model_dir)
    async with build_app(settings, use_redis=False, watch_personas=False) as app:
        assert app.warmup is None
        assert "models" not in await app.readiness.status()
        await asyncio.sleep(0.2)
        assert not getattr(app.llm, "loaded", True)


async def test_the_bot_warms_whisper_up_in_the_background(
    mongo_uri: str, redis_prefix: str, tiny_model_dir: Path
) -> None:
    from companion.speech.pool import TranscriptionPool

    settings = _settings(mongo_uri, redis_prefix, tiny_model_dir)
    async with build_app(
        settings, use_redis=False, watch_personas=False, warm_up=True, speech=True
    ) as app:
        assert app.warmup is not None and app.warmup.names == ["llm", "speech"]
        pool = app.speech_pool
        assert isinstance(pool, TranscriptionPool)
        assert await asyncio.wait_for(app.warmup.wait(), 300)
        assert app.warmup.durations_s["speech"] > 0
        for _ in range(100):
            if (await app.readiness.status()).get("models"):
                break
            await asyncio.sleep(0.05)
        assert (await app.readiness.status())["models"] is True
