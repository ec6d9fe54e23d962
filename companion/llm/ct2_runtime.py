"""CTranslate2 runtime for the local backend: the packaged model in int8, several times faster
on CPU than transformers (BENCHMARKS.md, "Embedded default").

- The model is converted once from what transformers loads (a GGUF file is de-quantised first)
  into ``<cache_dir>/ct2-<name>-int8`` (~20 s, once per machine); later starts load that
  directory in well under a second.
- Free text streams token by token through the same `AsyncTextIteratorStreamer` as the
  transformers runtime, so `LocalChatModel` treats both alike.
- Schema-constrained JSON: CTranslate2 has no logits-processor hook, so we decode
  optimistically and check each token against the grammar (`JsonGrammar`) in the step
  callback. The first token the grammar refuses stops that pass; we choose the best allowed
  token from the same step's logits and start a new pass from the prompt plus the accepted
  tokens. A small model mostly writes valid JSON once told the schema, so this costs a few
  extra prompt passes, not one per token.

Everything here is synchronous and runs in worker threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import torch

from companion.llm.base import LLMUnavailableError, SamplingParams
from companion.llm.ct2_caches import QUANTIZATION, PrefixCache, PromptCache
from companion.llm.json_grammar import JsonGrammar
from companion.llm.local_runtime import CancelFlag, ModelSource, _fold_system

log = logging.getLogger(__name__)

TOKENIZER_DIR = "hf-tokenizer"


@dataclass(slots=True)
class Ct2Model:
    tokenizer: Any
    generator: Any
    source: ModelSource
    eos_token_ids: list[int]
    max_positions: int | None
    vocab_size: int
    prompt_cache: PromptCache | None = None
    grammar: JsonGrammar | None = None
    prefix_cache: PrefixCache | None = None

    def json_grammar(self) -> JsonGrammar:
        if self.grammar is None:
            self.grammar = JsonGrammar(self.tokenizer, self.vocab_size, self.eos_token_ids)
        return self.grammar


def converted_dir(source: ModelSource, cache_dir: Path) -> Path:
    """One directory per model file version: a changed or different model at the same path
    gets a new conversion, never a stale one."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.gguf_file or Path(source.location).name)
    location = Path(source.location)
    identity = [source.location, source.gguf_file or ""]
    if location.is_dir():
        for path in sorted(location.iterdir()):
            if path.is_file():
                stat = path.stat()
                identity.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(identity).encode()).hexdigest()[:12]
    return cache_dir / f"ct2-{name}-{digest}-{QUANTIZATION}"


def convert(source: ModelSource, tokenizer: Any, target: Path) -> None:
    """Write the CTranslate2 model for `source` into `target` (atomically: a rename)."""
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    loaded: Any = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    config = loaded.config
    # A GGUF-loaded model refuses save_pretrained; a plain copy of its weights does not.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain: Any = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    plain.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        hf_dir = Path(work) / "hf"
        plain.save_pretrained(hf_dir)
        tokenizer.save_pretrained(hf_dir)
        out = Path(work) / "ct2"
        TransformersConverter(str(hf_dir)).convert(str(out), quantization=QUANTIZATION)
        # The tokenizer as tokenizer.json: reading it back takes a fraction of a second, where
        # parsing it out of a GGUF file takes seconds on every start.
        tokenizer.save_pretrained(out / TOKENIZER_DIR)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(target)
        out.replace(target)


def load_ct2(
    source: ModelSource,
    tokenizer: Any,
    cache_dir: Path,
    threads: int | None,
    *,
    prefix_capacity: int = 0,
) -> Ct2Model:
    target = converted_dir(source, cache_dir)
    if not (target / "model.bin").is_file():
        log.info("converting local model %s for CTranslate2 (once)", source.describe())
        try:
            convert(source, tokenizer, target)
        except Exception as exc:  # any failure: fall back to transformers
            raise LLMUnavailableError(f"cannot convert {source.describe()}: {exc}") from exc
    if not (target / TOKENIZER_DIR / "tokenizer_config.json").is_file():
        with contextlib.suppress(OSError):  # only a start-up speed-up for next time
            tokenizer.save_pretrained(target / TOKENIZER_DIR)
    try:
        generator = ctranslate2.Generator(
            str(target), device="cpu", compute_type=QUANTIZATION, intra_threads=threads or 0
        )
    except (RuntimeError, ValueError) as exc:  # a conversion CTranslate2 cannot read back
        raise LLMUnavailableError(f"cannot load {target}: {exc}") from exc
    eos: list[int] = []
    if isinstance(tokenizer.eos_token_id, int):
        eos.append(tokenizer.eos_token_id)
    import json

    config = (
        json.loads((target / "config.json").read_text())
        if (target / "config.json").is_file()
        else {}
    )
    vocab = len(json.loads((target / "vocabulary.json").read_text()))
    max_positions = config.get("max_position_embeddings")
    log.info("local model %s loaded with CTranslate2 (%s)", source.describe(), QUANTIZATION)
    return Ct2Model(
        tokenizer,
        generator,
        source,
        eos,
        max_positions,
        vocab,
        PromptCache(target, threads),
        prefix_cache=PrefixCache(generator, prefix_capacity) if prefix_capacity else None,
    )


def chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    try:
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    except Exception:  # templates that refuse the system role (Gemma-style)
        if not any(m["role"] == "system" for m in messages):
            raise
        encoded = tokenizer.apply_chat_template(_fold_system(messages), add_generation_prompt=True)
    ids = encoded["input_ids"] if not isinstance(encoded, list) else encoded
    return [int(i) for i in ids]


# Below this many tokens a cached prefix saves less than its bookkeeping.
MIN_CACHED_PREFIX = 32


def stable_prefix_len(
    tokenizer: Any, messages: list[dict[str, str]], prefix_chars: int, ids: list[int]
) -> int:
    """How many of `ids` (the chat template over `messages`) stay the same from turn to turn:
    the tokens of the template over the system message's first `prefix_chars` characters
    alone, as far as they agree with `ids` (a word cut at the border tokenizes differently,
    so the agreement, not the count, decides). 0 when too short to pay."""
    if prefix_chars <= 0 or not messages or messages[0]["role"] != "system":
        return 0
    head = [{"role": "system", "content": messages[0]["content"][:prefix_chars]}]
    try:
        encoded = tokenizer.apply_chat_template(head)
    except Exception:  # templates that refuse a lone system message
        return 0
    head_ids = encoded["input_ids"] if not isinstance(encoded, list) else encoded
    same = 0
    for ours, theirs in zip(head_ids, ids, strict=False):
        if int(ours) != theirs:
            break
        same += 1
    # The start tokens may not be empty: at least the last token stays out of the prefix.
    same = min(same, len(ids) - 1)
    return same if same >= MIN_CACHED_PREFIX else 0


@dataclass(slots=True, eq=False, weakref_slot=True)  # hashable: the backend keeps a set
class Ct2Run:
    """One generation in its worker thread; same surface as `GenerationRun`.

    The step callbacks reach the run through a weak reference: CTranslate2 may release a
    callback in its own worker thread after the call returned, and were that the last
    reference to the model, the generator would be destroyed there and join its own thread
    (``std::system_error: Resource deadlock avoided``, an abort).
    """

    loaded: Ct2Model
    prompt_ids: list[int]
    sampling: SamplingParams
    streamer: Any
    cancel: threading.Event
    json_schema: dict[str, Any] | None = None
    completion_tokens: int = 0
    error: BaseException | None = None
    flag: CancelFlag | None = None
    generated: list[int] = field(default_factory=list)
    passes: int = 0  # decoding passes over the prompt (constrained decoding restarts)
    # Leading prompt tokens whose state the prefix cache keeps (free text only; 0: none).
    stable_prefix: int = 0
    prefix_cached: bool = False  # whether this run's prefix state came from or went to it

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt_ids)

    @property
    def cancelled(self) -> bool:
        return self.flag is not None and self.flag.triggered

    def _max_new(self) -> int:
        max_new = self.sampling.max_tokens
        if self.loaded.max_positions:
            max_new = max(1, min(max_new, self.loaded.max_positions - self.prompt_tokens))
        return max_new

    def _options(self, max_length: int) -> dict[str, Any]:
        sampling = self.sampling
        options: dict[str, Any] = {
            "max_length": max_length,
            "include_prompt_in_result": False,
            "end_token": self.loaded.eos_token_ids or None,
            "return_end_token": True,
        }
        if sampling.temperature == 0:
            options["sampling_topk"] = 1
        else:
            options.update(
                sampling_topk=0,
                sampling_topp=sampling.top_p,
                sampling_temperature=sampling.temperature,
            )
        if sampling.repetition_penalty is not None:
            options["repetition_penalty"] = sampling.repetition_penalty
        return options

    def _emit(self, token_id: int) -> None:
        self.generated.append(token_id)
        self.completion_tokens += 1
        if token_id not in self.loaded.eos_token_ids:
            self.streamer.put(torch.tensor([token_id]))

    def run(self) -> None:
        self.flag = CancelFlag(self.cancel)
        try:
            if self.sampling.seed is not None:
                ctranslate2.set_random_seed(self.sampling.seed)
            if self.json_schema is None:
                self._free_text()
            else:
                self._constrained(self.json_schema)
        except BaseException as exc:  # reported to the consumer, which raises LLMError
            self.error = exc
        finally:
            with contextlib.suppress(RuntimeError):  # the event loop is already gone
                self.streamer.end()

    def _stopped(self) -> bool:
        if self.cancel.is_set():
            assert self.flag is not None
            self.flag.triggered = True
            return True
        return False

    def _tokens(self, ids: list[int]) -> list[str]:
        return list(self.loaded.tokenizer.convert_ids_to_tokens(ids))

    def _free_text(self) -> None:
        ref = weakref.ref(self)

        def step(result: Any) -> bool:
            run = ref()
            if run is None or run._stopped():
                return True
            run._emit(int(result.token_id))
            return False

        options = self._options(self._max_new())
        cache = self.loaded.prefix_cache
        static = self.prompt_ids[: self.stable_prefix]
        generator = cache.generator_for(static) if cache is not None and static else None
        if generator is None:
            self.loaded.generator.generate_batch(
                [self._tokens(self.prompt_ids)], callback=step, **options
            )
            return
        self.prefix_cached = True
        generator.generate_batch(
            [self._tokens(self.prompt_ids[self.stable_prefix :])],
            static_prompt=self._tokens(static),
            callback=step,
            **options,
        )

    def _constrained(self, schema: dict[str, Any]) -> None:
        grammar = self.loaded.json_grammar()
        matcher = grammar.matcher(schema)
        max_new = self._max_new()
        self._jump(grammar, matcher)
        ref = weakref.ref(self)
        while self.completion_tokens < max_new and not matcher.is_terminated():
            refused: list[bool] = []

            def step(result: Any, refused: list[bool] = refused) -> bool:
                run = ref()
                if run is None or run._stopped():
                    return True
                token_id = int(result.token_id)
                if matcher.accept_token(token_id):
                    run._emit(token_id)
                    return bool(matcher.is_terminated())
                refused.append(True)
                return True

            # No logits in this pass: returning the vocabulary's logits at every step made
            # each token ~10x slower; they are asked for only where a token was refused.
            self._generate_cached(callback=step, **self._options(max_new - self.completion_tokens))
            if self.cancel.is_set() or not refused:
                return  # cancelled, or the pass ended (length) without a refusal
            if self._jump(grammar, matcher):
                continue  # the grammar alone knew what comes next
            token_id = grammar.choose(
                matcher, self._next_logits(), self.sampling.temperature, self.sampling.top_p
            )
            if not matcher.accept_token(token_id):  # cannot happen: chosen among allowed ones
                raise RuntimeError("the grammar refused its own choice")
            self._emit(token_id)
            self._jump(grammar, matcher)

    def _generate_cached(self, **options: Any) -> Any:
        """One decoding pass from the prompt plus what was generated, the prompt's state
        taken from the prompt cache when there is one."""
        self.passes += 1
        cache = self.loaded.prompt_cache
        if cache is None or len(self.prompt_ids) < 2:
            return self.loaded.generator.generate_batch(
                [self._tokens(self.prompt_ids + self.generated)], **options
            )
        # The start tokens may not be empty: the prompt's last token goes with them.
        static, start = self.prompt_ids[:-1], self.prompt_ids[-1:] + self.generated
        return cache.generator_for(static).generate_batch(
            [self._tokens(start)], static_prompt=self._tokens(static), **options
        )

    def _jump(self, grammar: JsonGrammar, matcher: Any) -> bool:
        """Emit what the grammar forces next; whether there was anything."""
        forced = grammar.forced_tokens(matcher, self.loaded.tokenizer)
        for token_id in forced:
            self._emit(token_id)
        return bool(forced)

    def _next_logits(self) -> torch.Tensor:
        """The model's logits for the next position (one step, one prompt pass)."""
        options = self._options(1)
        options["return_logits_vocab"] = True
        result = self._generate_cached(**options)
        return torch.from_numpy(np.asarray(result[0].logits[0], dtype=np.float32))


def cached_tokenizer_dir(source: ModelSource, cache_dir: Path) -> Path | None:
    """The tokenizer saved next to an existing conversion of `source`, if any."""
    directory = converted_dir(source, cache_dir) / TOKENIZER_DIR
    return directory if (directory / "tokenizer_config.json").is_file() else None
