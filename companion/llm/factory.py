"""Builds the chat model the settings ask for."""

from __future__ import annotations

from companion.config import LLMBackend, LLMSettings
from companion.llm.base import ChatModel
from companion.llm.usage import UsageCallback


def build_chat_model(settings: LLMSettings, *, on_usage: UsageCallback | None = None) -> ChatModel:
    """`OpenAIChatModel` for an OpenAI-compatible server, else the in-process `LocalChatModel`.

    Neither connects nor loads anything here: the HTTP client connects on the first request,
    the local model loads on first use (or on `await model.load()`).
    """
    if settings.resolved_backend is LLMBackend.OPENAI:
        from companion.llm.openai_backend import OpenAIChatModel

        return OpenAIChatModel(settings, on_usage=on_usage)
    # Imported here so choosing the OpenAI backend never imports the local backend's stack.
    from companion.llm.local_backend import LocalChatModel

    return LocalChatModel(settings, on_usage=on_usage)
