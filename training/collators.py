"""Batching of encoded chats: right padding, or padding-free packing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from training.tokenization import IGNORE_INDEX, EncodedChat

Feature = dict[str, list[int]]


class EncodedDataset(Dataset[Feature]):
    def __init__(self, items: Sequence[EncodedChat]) -> None:
        self._items = list(items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Feature:
        item = self._items[index]
        return {"input_ids": item.input_ids, "labels": item.labels}


class PaddingCollator:
    """Pads a batch on the right: pad id for inputs, -100 for labels, 0 in the attention mask."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        input_ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(features), width), dtype=torch.long)
        for row, feature in enumerate(features):
            length = len(feature["input_ids"])
            input_ids[row, :length] = torch.tensor(feature["input_ids"])
            labels[row, :length] = torch.tensor(feature["labels"])
            attention[row, :length] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


class PackingCollator:
    """Concatenates a batch into one row with position ids restarting at 0 for each example.

    No attention mask is sent: transformers then reads the example boundaries from the
    position ids and builds a block-diagonal causal mask, so packed examples never attend to
    each other (masking_utils.find_packed_sequence_indices). The first label of each example
    is -100 so no example is trained to predict the start of the next.
    """

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        input_ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for feature in features:
            ids = list(feature["input_ids"])
            input_ids.extend(ids)
            labels.extend([IGNORE_INDEX, *feature["labels"][1:]])
            positions.extend(range(len(ids)))
        return {
            "input_ids": torch.tensor([input_ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([positions], dtype=torch.long),
        }
