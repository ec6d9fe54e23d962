"""Chat template rendering and assistant-only labels.

The model's own chat template renders each conversation. To find what the assistant said,
the conversation is rendered turn by turn: the text added by each assistant turn (after the
generation prompt for it) is an assistant span, end-of-turn token included, so the model
learns to stop. Tokens whose characters start inside a span get their id as label; every
other token (system, user, role headers, padding) gets -100 and carries no loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100
Chat = list[dict[str, str]]


class ChatTemplateError(Exception):
    """The tokenizer's chat template cannot be used for assistant-only training."""


@dataclass(frozen=True)
class EncodedChat:
    input_ids: list[int]
    labels: list[int]

    @property
    def assistant_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


class ChatEncoder:
    def __init__(self, tokenizer: Any, max_seq_len: int) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ChatTemplateError("the tokenizer has no chat template; set model.chat_template")
        if not getattr(tokenizer, "is_fast", False):
            raise ChatTemplateError("a fast tokenizer is needed (character offsets)")
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len

    def render(self, messages: Chat, *, add_generation_prompt: bool = False) -> str:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        if not isinstance(text, str):
            raise ChatTemplateError("apply_chat_template did not return text")
        return text

    def assistant_spans(self, messages: Chat) -> tuple[str, list[tuple[int, int]]]:
        """The whole rendered conversation and the character spans of assistant replies."""
        full = self.render(messages)
        spans: list[tuple[int, int]] = []
        for index, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = self.render(messages[:index], add_generation_prompt=True)
            upto = self.render(messages[: index + 1])
            if not (upto.startswith(prompt) and full.startswith(upto)):
                raise ChatTemplateError(
                    "the chat template renders earlier turns differently as the conversation "
                    "grows, so assistant turns cannot be located; use a template without "
                    "history rewriting (model.chat_template)"
                )
            if len(upto) > len(prompt):
                spans.append((len(prompt), len(upto)))
        return full, spans

    def encode(self, messages: Chat) -> EncodedChat:
        """Token ids and labels, truncated to max_seq_len from the right."""
        text, spans = self.assistant_spans(messages)
        encoding = self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
        )
        input_ids: list[int] = list(encoding["input_ids"])
        labels = [IGNORE_INDEX] * len(input_ids)
        span_index = 0
        for position, (start, end) in enumerate(encoding["offset_mapping"]):
            if end <= start:
                continue
            while span_index < len(spans) and start >= spans[span_index][1]:
                span_index += 1
            if span_index < len(spans) and spans[span_index][0] <= start:
                labels[position] = input_ids[position]
        return EncodedChat(input_ids[: self.max_seq_len], labels[: self.max_seq_len])

    def count_tokens(self, messages: Chat) -> int:
        return len(self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"])

    def prompt_ids(self, messages: Chat) -> list[int]:
        """Token ids of a conversation followed by the generation prompt, for generation."""
        text = self.render(messages, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
