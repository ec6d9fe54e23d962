"""A tiny random Qwen2 model and a BPE tokenizer trained on the sample texts, built per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "training" / "data" / "samples"
CONFIGS = REPO / "training" / "configs"

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _sample_texts() -> list[str]:
    texts: list[str] = []
    for path in SAMPLES.rglob("*"):
        if path.suffix in {".jsonl", ".yaml"}:
            texts.extend(path.read_text(encoding="utf-8").splitlines())
    for path in (REPO / "prompts").rglob("*.j2"):
        texts.extend(path.read_text(encoding="utf-8").splitlines())
    return texts


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_sample_texts(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    return tokenizer


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return build_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        initializer_range=0.2,  # larger than usual so a few LoRA steps visibly move the logits
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    directory = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def tiny_config_data(model_dir: Path, output_dir: Path, **overrides: Any) -> dict[str, Any]:
    """training/configs/tiny-cpu.yaml with the test's model and output directory."""
    data: dict[str, Any] = YAML(typ="safe").load((CONFIGS / "tiny-cpu.yaml").read_text())
    data["model"]["base"] = str(model_dir)
    data["output_dir"] = str(output_dir)
    for dotted, value in overrides.items():
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    return data


def make_config(model_dir: Path, output_dir: Path, **overrides: Any) -> Any:
    from training.config import parse_config

    return parse_config(tiny_config_data(model_dir, output_dir, **overrides), base_dir=CONFIGS)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path
