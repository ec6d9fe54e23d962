from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from companion.config import LLMSettings
from companion.llm.base import LLMError
from companion.llm.openai_backend import OpenAIChatModel
from companion.llm.tokenizer_file import load_token_counter


def save_word_tokenizer(directory: Path) -> Path:
    vocab = {"<unk>": 0, "hello": 1, "world": 2, "!": 3}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    path = directory / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def test_counts_with_the_tokenizer_file(tmp_path: Path) -> None:
    path = save_word_tokenizer(tmp_path)
    count = load_token_counter(str(path))
    assert count("hello world!") == 3
    assert count("hello there friend") == 3  # unknown words are one <unk> each
    assert load_token_counter(str(tmp_path))("hello") == 1  # a directory works too


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match=r"no tokenizer\.json"):
        load_token_counter(str(tmp_path))


def test_broken_tokenizer_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(LLMError, match="cannot read"):
        load_token_counter(str(tmp_path))


async def test_openai_backend_uses_the_configured_tokenizer(tmp_path: Path) -> None:
    save_word_tokenizer(tmp_path)
    exact = OpenAIChatModel(LLMSettings(base_url="http://127.0.0.1:9/v1", tokenizer=str(tmp_path)))
    estimated = OpenAIChatModel(LLMSettings(base_url="http://127.0.0.1:9/v1"))
    try:
        # One unknown word: a single <unk> for the tokenizer, ceil(20 / 4) = 5 estimated.
        assert exact.count_tokens("helloworldhelloworld") == 1
        assert estimated.count_tokens("helloworldhelloworld") == 5
    finally:
        await exact.aclose()
        await estimated.aclose()
