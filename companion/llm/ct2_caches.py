"""The CTranslate2 runtime's prompt-state caches (``static_prompt``): one for the restarts of
constrained decoding (a generator of its own, dropped to free its states), one for the stable
prefix of replies (bounded, kept as long as the model)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import ctranslate2

QUANTIZATION = "int8"


def new_generator(model_dir: Path, threads: int | None) -> Any:
    return ctranslate2.Generator(
        str(model_dir), device="cpu", compute_type=QUANTIZATION, intra_threads=threads or 0
    )


class PromptCache:
    """A generator of its own for constrained decoding, which keeps the state after each
    prompt (CTranslate2's ``static_prompt`` cache), bounded.

    A grammar refusal restarts decoding from the prompt plus the accepted tokens; with the
    prompt's state cached a restart reads only the generated tokens (0.1 s instead of ~1 s
    for a 500-token prompt here). CTranslate2 never evicts that cache (~65 MB per 500-token
    prompt), so after `capacity` distinct prompts the generator is dropped with its cache
    and loaded afresh (~0.7 s). Replies use the main generator and never fill this cache.
    """

    def __init__(self, model_dir: Path, threads: int | None, capacity: int = 2) -> None:
        self._model_dir = model_dir
        self._threads = threads
        self._capacity = capacity
        self._prompts: set[tuple[int, ...]] = set()
        self._generator: Any = None
        self._lock = threading.Lock()
        self.loads = 0

    def generator_for(self, prompt_ids: list[int]) -> Any:
        key = tuple(prompt_ids)
        with self._lock:
            if key not in self._prompts:
                if len(self._prompts) >= self._capacity:
                    self._generator = None  # frees the weights and every cached state
                    self._prompts.clear()
                self._prompts.add(key)
            if self._generator is None:
                self._generator = new_generator(self._model_dir, self._threads)
                self.loads += 1
            return self._generator


class PrefixCache:
    """Which stable prompt prefixes (the persona part of a reply's system prompt) the main
    generator keeps the state of (``static_prompt``), so a turn reads only the tokens after it
    (BENCHMARKS.md, "A turn on the embedded default").

    CTranslate2 keeps every cached state for the generator's lifetime (~45 KB per token for
    SmolLM2-135M), so only the first `capacity` prefixes are cached; a request with another
    prefix runs uncached rather than dropping states that are in use (no thrashing between
    personas). Replies run one at a time on the main generator, so no generator of its own.
    """

    def __init__(self, generator: Any, capacity: int) -> None:
        self._generator = generator
        self._capacity = capacity
        self._prefixes: set[tuple[int, ...]] = set()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def generator_for(self, prefix_ids: list[int]) -> Any:
        """The generator holding (or about to hold) `prefix_ids`' state; None when full."""
        key = tuple(prefix_ids)
        with self._lock:
            if key in self._prefixes:
                self.hits += 1
            elif len(self._prefixes) < self._capacity:
                self._prefixes.add(key)
                self.misses += 1
            else:
                return None
            return self._generator
