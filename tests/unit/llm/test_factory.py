from __future__ import annotations

import subprocess
import sys
import textwrap

from companion.config import LLMSettings
from companion.llm.base import ChatModel
from companion.llm.factory import build_chat_model
from companion.llm.local_backend import LocalChatModel
from companion.llm.openai_backend import OpenAIChatModel


async def test_base_url_selects_the_openai_backend() -> None:
    model = build_chat_model(LLMSettings(base_url="http://127.0.0.1:9/v1"))
    try:
        assert isinstance(model, OpenAIChatModel)
        assert isinstance(model, ChatModel)
    finally:
        await model.aclose()


async def test_no_base_url_selects_the_local_backend_without_loading_it() -> None:
    model = build_chat_model(LLMSettings())
    assert isinstance(model, LocalChatModel)
    assert isinstance(model, ChatModel)
    assert not model.loaded
    await model.aclose()


def test_choosing_the_openai_backend_never_imports_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        from companion.config import LLMSettings
        from companion.llm.factory import build_chat_model
        import companion.llm.local_backend  # the module itself must be light too
        model = build_chat_model(LLMSettings(backend="openai", base_url="http://127.0.0.1:9/v1"))
        heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "HEAVY=\n" in result.stdout, result.stdout + result.stderr
