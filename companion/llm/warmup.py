"""Warm the models up at start-up, in the background, and tell readiness when they are warm.

Without this the first message after every start paid for loading the embedding model (~7 s)
and the in-process chat model (seconds to tens of seconds): the first reply was many times
slower than the tenth. The composition root calls `start_model_warmup` once; the process
serves at once (the terminal prompt appears, the bot polls), and `/readyz` answers 503 with
``"models": false`` until every model has loaded and answered one small request, so a load
balancer sends traffic only to a warm worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from companion.llm.base import ChatMessage, ChatRequest, Role, SamplingParams

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[object]]


class ModelWarmup:
    """Runs named warm-up steps concurrently in background tasks."""

    def __init__(self, steps: dict[str, Step]) -> None:
        self._steps = dict(steps)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.durations_s: dict[str, float] = {}
        self.failed: dict[str, str] = {}

    @property
    def names(self) -> list[str]:
        return list(self._steps)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for name, step in self._steps.items():
            if name not in self._tasks:
                self._tasks[name] = loop.create_task(self._run(name, step))

    async def _run(self, name: str, step: Step) -> None:
        started = time.monotonic()
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a model that cannot load keeps the worker not ready
            self.failed[name] = type(exc).__name__
            log.error("warm-up of %s failed: %s", name, exc)
            return
        self.durations_s[name] = time.monotonic() - started
        log.info("%s warm in %.1f s", name, self.durations_s[name])

    @property
    def warm(self) -> bool:
        return len(self.durations_s) == len(self._steps)

    async def ready(self) -> bool:
        """The readiness check: True once every model is warm."""
        return self.warm

    async def wait(self) -> bool:
        """Wait for every step (benchmarks, tests); True when all succeeded."""
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        return self.warm

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)


def model_steps(*, llm: Any = None, embedder: Any = None, speech: Any = None) -> dict[str, Step]:
    """The warm-up steps for what is at hand: an in-process chat model (`load()`), an
    embedder (`warm_up()`), a speech engine (`warm_up()`). A model behind a server (vLLM) has
    nothing to load here; readiness pings it separately."""
    steps: dict[str, Step] = {}
    if llm is not None and callable(getattr(llm, "load", None)):

        async def chat_model() -> None:
            await llm.load()
            # One token through the runtime: first-call allocations are paid here too.
            await llm.complete(
                ChatRequest(
                    messages=[ChatMessage(role=Role.USER, content="Hi")],
                    sampling=SamplingParams(temperature=0.0, max_tokens=1),
                )
            )

        steps["llm"] = chat_model
    if embedder is not None and callable(getattr(embedder, "warm_up", None)):

        async def embedding_model() -> None:
            await embedder.warm_up()
            await embedder.embed_queries(["warm-up"])

        steps["embedder"] = embedding_model
    if speech is not None and callable(getattr(speech, "warm_up", None)):
        steps["speech"] = speech.warm_up
    return steps


def start_model_warmup(
    stack: AsyncExitStack, *, llm: Any = None, embedder: Any = None, speech: Any = None
) -> ModelWarmup:
    """Start warming up in the background (the caller does not wait); stopped with `stack`.

    Add ``warmup.ready`` to the readiness checks as ``"models"``."""
    warmup = ModelWarmup(model_steps(llm=llm, embedder=embedder, speech=speech))
    warmup.start()
    stack.push_async_callback(warmup.aclose)
    return warmup
