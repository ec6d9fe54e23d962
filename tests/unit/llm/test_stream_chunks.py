"""Reading streamed `chat.completion.chunk` objects as plain JSON, odd shapes included."""

from __future__ import annotations

import pytest

from companion.llm.openai_backend import _read_chunk


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        # vLLM's first chunk: the role, no text yet.
        (
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
            ([], None, None),
        ),
        ({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]}, (["Hi"], None, None)),
        ({"choices": [{"delta": {}, "finish_reason": "stop"}]}, ([], "stop", None)),
        # The usage chunk that stream_options.include_usage adds at the end.
        (
            {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}},
            ([], None, (12, 3)),
        ),
        ({"choices": None, "usage": None}, ([], None, None)),
        ({"choices": ["junk", {"delta": "junk"}, {"delta": {"content": 5}}]}, ([], None, None)),
        ("not a chunk", ([], None, None)),
    ],
)
def test_reads_text_finish_reason_and_usage(
    chunk: object, expected: tuple[list[str], str | None, tuple[int, int] | None]
) -> None:
    assert _read_chunk(chunk) == expected
