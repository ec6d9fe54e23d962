from __future__ import annotations

from typing import Any

import pytest

from training.tokenization import IGNORE_INDEX, ChatEncoder, ChatTemplateError

CHAT = [
    {"role": "system", "content": "You are Mila."},
    {"role": "user", "content": "Hi, who are you?"},
    {"role": "assistant", "content": "I'm Mila, a librarian."},
    {"role": "user", "content": "Как дела?"},
    {"role": "assistant", "content": "Хорошо, спасибо!"},
]


def expected_positions(tokenizer: Any, ids: list[int], chat: list[dict[str, str]]) -> set[int]:
    """Assistant positions found independently of the encoder: for the k-th <|im_start|> whose
    turn is the assistant's, everything after the "assistant\\n" header up to and including
    the newline after its <|im_end|>."""
    start_id = tokenizer.convert_tokens_to_ids("<|im_start|>")
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    header = len(tokenizer("assistant\n", add_special_tokens=False)["input_ids"])
    starts = [i for i, t in enumerate(ids) if t == start_id]
    ends = [i for i, t in enumerate(ids) if t == end_id]
    assert len(starts) == len(ends) == len(chat)
    positions: set[int] = set()
    for turn, start, end in zip(chat, starts, ends, strict=True):
        if turn["role"] == "assistant":
            positions.update(range(start + 1 + header, end + 2))
    return positions


def test_only_assistant_tokens_carry_labels(tokenizer: Any) -> None:
    encoded = ChatEncoder(tokenizer, max_seq_len=4096).encode(CHAT)
    ids = encoded.input_ids
    assert (
        ids
        == tokenizer(tokenizer.apply_chat_template(CHAT, tokenize=False), add_special_tokens=False)[
            "input_ids"
        ]
    )
    positions = expected_positions(tokenizer, ids, CHAT)
    for index, (token, label) in enumerate(zip(ids, encoded.labels, strict=True)):
        assert label == (token if index in positions else IGNORE_INDEX), index
    labelled = tokenizer.decode(
        [t for t, lab in zip(ids, encoded.labels, strict=True) if lab != IGNORE_INDEX]
    )
    assert labelled == "I'm Mila, a librarian.<|im_end|>\nХорошо, спасибо!<|im_end|>\n"
    assert encoded.assistant_tokens == len(positions)


def test_truncation_keeps_labels_aligned(tokenizer: Any) -> None:
    full = ChatEncoder(tokenizer, max_seq_len=4096).encode(CHAT)
    cut = ChatEncoder(tokenizer, max_seq_len=20).encode(CHAT)
    assert cut.input_ids == full.input_ids[:20]
    assert cut.labels == full.labels[:20]


def test_generation_prompt_ends_with_assistant_header(tokenizer: Any) -> None:
    encoder = ChatEncoder(tokenizer, max_seq_len=4096)
    ids = encoder.prompt_ids(CHAT[:2])
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n")


def test_history_rewriting_templates_are_refused(tokenizer: Any) -> None:
    rewriting = tokenizer.__class__(tokenizer_object=tokenizer.backend_tokenizer)
    # Like reasoning templates that drop earlier assistant turns: not prefix-consistent.
    rewriting.chat_template = (
        "{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}"
        "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    with pytest.raises(ChatTemplateError, match="differently"):
        ChatEncoder(rewriting, max_seq_len=100).encode(CHAT)


def test_tokenizer_without_template_is_refused(tokenizer: Any) -> None:
    bare = tokenizer.__class__(tokenizer_object=tokenizer.backend_tokenizer)
    bare.chat_template = None
    with pytest.raises(ChatTemplateError, match="no chat template"):
        ChatEncoder(bare, max_seq_len=100)
