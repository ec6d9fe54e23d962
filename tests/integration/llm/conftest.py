from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.emulators.openai_server import OpenAIEmulator


@pytest.fixture
async def emu() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(adapters={"kylie-lora"}) as emulator:
        yield emulator
