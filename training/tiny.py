"""A tiny random Qwen2 model and a byte-level BPE tokenizer trained on the sample texts.

For trying the pipeline on a CPU without downloading anything (`companion-train tiny-model`)
and for the tests. It learns nothing useful; it exercises every code path a real model does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
REPO_ROOT = Path(__file__).resolve().parent.parent


def sample_texts(roots: Iterable[Path] | None = None) -> list[str]:
    """Lines of the sample data and the bot's prompt templates: the tokenizer's corpus."""
    roots = list(roots or [REPO_ROOT / "training" / "data", REPO_ROOT / "companion" / "prompts"])
    texts: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in {".jsonl", ".yaml", ".j2"}:
                texts.extend(path.read_text(encoding="utf-8").splitlines())
    return texts


def build_tokenizer(texts: list[str] | None = None, vocab_size: int = 2000) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts if texts is not None else sample_texts(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_tiny_model(directory: Path, tokenizer: Any | None = None, seed: int = 0) -> Path:
    """Write a 2-layer Qwen2 (hidden 48) with random weights and its tokenizer to `directory`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = tokenizer if tokenizer is not None else build_tokenizer()
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        initializer_range=0.2,  # larger than usual so a few LoRA steps visibly move the logits
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    directory.mkdir(parents=True, exist_ok=True)
    Qwen2ForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
