from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from training.collators import PackingCollator, PaddingCollator
from training.tokenization import IGNORE_INDEX


def test_padding_collator() -> None:
    batch = PaddingCollator(pad_token_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_packed_examples_do_not_attend_to_each_other(tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.config.use_cache = False
    model.eval()
    first = {"input_ids": [11, 12, 13, 14, 15], "labels": [11, 12, 13, 14, 15]}
    second = {"input_ids": [21, 22, 23], "labels": [21, 22, 23]}
    packed = PackingCollator()([first, second])
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]]
    assert packed["labels"].tolist() == [[IGNORE_INDEX, 12, 13, 14, 15, IGNORE_INDEX, 22, 23]]
    assert "attention_mask" not in packed
    with torch.no_grad():
        together = model(
            input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False
        ).logits[0]
        alone_first = model(input_ids=torch.tensor([first["input_ids"]])).logits[0]
        alone_second = model(input_ids=torch.tensor([second["input_ids"]])).logits[0]
    torch.testing.assert_close(together[:5], alone_first, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(together[5:], alone_second, rtol=1e-4, atol=1e-5)
