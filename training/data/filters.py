"""Deduplication, length filtering and the train/eval split: all deterministic."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable

from training.data.records import Example, Role

_SPACE_RE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: trivial variants hash the same."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_key(example: Example) -> str:
    """sha256 of the normalised user/assistant turns. The system prompt is left out, so the
    same dialogue conditioned on two personas still counts as one."""
    hasher = hashlib.sha256()
    for turn in example.messages:
        if turn.role is Role.SYSTEM:
            continue
        hasher.update(turn.role.value.encode())
        hasher.update(b"\x00")
        hasher.update(normalise(turn.content).encode())
        hasher.update(b"\x01")
    return hasher.hexdigest()


def deduplicate(examples: list[Example]) -> list[Example]:
    """The first occurrence of each content key, in input order."""
    seen: set[str] = set()
    kept = []
    for example in examples:
        key = content_key(example)
        if key not in seen:
            seen.add(key)
            kept.append(example)
    return kept


def filter_length(
    examples: list[Example], count_tokens: Callable[[Example], int], max_tokens: int
) -> tuple[list[Example], list[int]]:
    """Examples whose rendered chat fits in `max_tokens`, and the token counts of those kept."""
    kept: list[Example] = []
    lengths: list[int] = []
    for example in examples:
        tokens = count_tokens(example)
        if tokens <= max_tokens:
            kept.append(example)
            lengths.append(tokens)
    return kept, lengths


def split_train_eval(
    examples: list[Example], eval_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """A split that depends only on content and seed: each example is ordered by
    sha256(seed, content key) and the first round(n * fraction) (at least one when the
    fraction is positive and there are two or more examples) go to eval. Input order does
    not matter, and the output keeps a stable order."""
    if eval_fraction <= 0 or len(examples) < 2:
        return list(examples), []
    ranked = sorted(
        examples,
        key=lambda e: hashlib.sha256(f"{seed}:{content_key(e)}".encode()).hexdigest(),
    )
    n_eval = min(len(examples) - 1, max(1, round(len(examples) * eval_fraction)))
    eval_keys = {content_key(e) for e in ranked[:n_eval]}
    ordered = sorted(examples, key=content_key)
    train = [e for e in ordered if content_key(e) not in eval_keys]
    evaluation = [e for e in ordered if content_key(e) in eval_keys]
    return train, evaluation
