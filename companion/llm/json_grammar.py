"""Schema-constrained JSON for the local backend (xgrammar).

A `ChatRequest.json_schema` means the same thing for every backend: the reply is JSON that the
schema accepts. vLLM does it server-side (``response_format``); in-process we compile the
schema into a grammar once and, at every step, only tokens the grammar allows can be chosen.
A small model then cannot add prose after the object ("invalid JSON: Extra data") or stop in
the middle of it: after the closing brace only the end-of-turn token is allowed.

Imported only by the local runtimes (needs torch and xgrammar).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import torch
import xgrammar as xgr


class JsonGrammar:
    """Compiles JSON schemas for one tokenizer and hands out matchers and logits processors."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]) -> None:
        # The model's vocab may be padded beyond the tokenizer's; the mask must cover it.
        self._info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids or None
        )
        self._compiler = xgr.GrammarCompiler(self._info)
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.vocab_size = vocab_size

    def compiled(self, schema: dict[str, Any]) -> Any:
        # Key order kept: xgrammar wants the properties in schema order, which is the order
        # the prompts show; sorted keys ("category" before "text") were refused at every item.
        key = json.dumps(schema)
        with self._lock:
            grammar = self._compiled.get(key)
            if grammar is None:
                # One separator style, the one models write ({"a": 1, "b": 2}): every key and
                # separator is then forced, so the runtime jumps over it without asking the
                # model (`forced_tokens`), and no stray whitespace is ever refused.
                grammar = self._compiler.compile_json_schema(
                    key, any_whitespace=False, separators=(", ", ": ")
                )
                self._compiled[key] = grammar
            return grammar

    def matcher(self, schema: dict[str, Any]) -> Any:
        return xgr.GrammarMatcher(self.compiled(schema))

    def forced_tokens(self, matcher: Any, tokenizer: Any) -> list[int]:
        """Tokens the grammar forces next (a key, a separator), accepted into `matcher`.

        Jump-forward decoding: the model is not asked for text only one answer fits. The
        forced string is tokenized on its own, so a token the grammar refuses (a boundary
        the tokenizer merged differently) ends the jump there and the model goes on.
        """
        if matcher.is_terminated():
            return []
        forced = matcher.find_jump_forward_string()
        if not forced:
            return []
        accepted: list[int] = []
        for token_id in tokenizer.encode(forced, add_special_tokens=False):
            if not matcher.accept_token(int(token_id)):
                break
            accepted.append(int(token_id))
        return accepted

    def hf_logits_processor(self, schema: dict[str, Any]) -> Any:
        """A transformers `LogitsProcessor` that masks what the schema forbids."""
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor(self.compiled(schema))

    def choose(self, matcher: Any, logits: torch.Tensor, temperature: float, top_p: float) -> int:
        """The next token among those the grammar allows (greedy at temperature 0)."""
        scores = logits.reshape(1, -1)[:, : self.vocab_size].to(torch.float32).clone()
        bitmask = xgr.allocate_token_bitmask(1, self.vocab_size)
        matcher.fill_next_token_bitmask(bitmask)
        xgr.apply_token_bitmask_inplace(scores, bitmask)
        if temperature <= 0:
            return int(torch.argmax(scores, dim=-1).item())
        probs = torch.softmax(scores / temperature, dim=-1)[0]
        if top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, dim=0) - sorted_probs < top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs, 1).item())
