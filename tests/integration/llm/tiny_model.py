"""A tiny random Llama chat model with a word-level tokenizer, built from scratch for tests."""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
WORDS = [
    "system",
    "user",
    "assistant",
    "apple",
    "banana",
    "cherry",
    "date",
    "elder",
    "fig",
    "grape",
    "hello",
    "world",
    "how",
    "are",
    "you",
    "today",
    "fine",
    "thanks",
    "kylie",
    "mark",
    "tea",
    "coffee",
    "cat",
    "dog",
    "sun",
    "moon",
    "rain",
    "snow",
    "river",
    "stone",
    "tree",
    "leaf",
    "green",
    "blue",
    "red",
    "black",
    "white",
    "happy",
    "calm",
    "brave",
    "quick",
    "slow",
    "bright",
    "dark",
    "warm",
    "cold",
]
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_chat_model(
    directory: Path,
    *,
    chat_template: str | None = CHATML_TEMPLATE,
    max_positions: int = 8192,
) -> Path:
    """Save a random 2-layer Llama and its tokenizer under `directory`; return it.

    Each word is one token and decodes with a space after it, so a streamed reply of N tokens
    has N words. The lm_head rows of the special tokens are zero: greedy decoding never picks
    them, so generation always runs to max_tokens (and never ends early by chance).
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(directory)

    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=None,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<pad>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(1234)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for token in SPECIAL_TOKENS:
            model.lm_head.weight[vocab[token]].zero_()
        # Bigger logits for words: sampling with temperature is then not uniform noise.
        model.lm_head.weight.mul_(20)
    model.save_pretrained(directory)
    return directory
