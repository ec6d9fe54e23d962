"""Exact token counts from the served model's `tokenizer.json`, without transformers or torch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from companion.llm.base import LLMError


def load_token_counter(location: str) -> Callable[[str], int]:
    """A `count_tokens` function for the tokenizer at `location` (a file or its directory).

    Uses the `tokenizers` package (Hugging Face's Rust tokenizers, part of the `ml` extra).
    Only local files: the bot never downloads at run time.
    """
    path = Path(location).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise LLMError(f"llm.tokenizer: no tokenizer.json at {location!r}")
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise LLMError(
            "llm.tokenizer needs the 'tokenizers' package (pip install 'companion[ml]')"
        ) from exc
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises its own exception type
        raise LLMError(f"llm.tokenizer: cannot read {path}: {exc}") from exc

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count
