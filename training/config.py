"""The run configuration: one YAML file describes data, model, LoRA, training, evaluation, export.

Relative paths in a config file are resolved against the directory of that file, so a run
does not depend on the directory it is started from.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

# vLLM accepts only these values for --max-lora-rank (vllm/config/lora.py, MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
_ADAPTER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ConfigError(Exception):
    """A config that cannot be used; the message names the file and every bad field."""


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if value.is_absolute() or base is None:
        return value
    return (Path(base) / value).resolve()


# A path that is resolved against the config file's directory when one is given.
ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceKind(StrEnum):
    OPENAI_MESSAGES = "openai_messages"  # {"messages": [{"role", "content"}]}
    SHAREGPT = "sharegpt"  # {"conversations": [{"from", "value"}]}
    OASST_TREES = "oasst_trees"  # OpenAssistant message_tree export, one tree per line
    PERSONA_CARDS = "persona_cards"  # example dialogues of the persona YAML cards
    # Declared so that the license gate can refuse it by name: the service's own users'
    # conversations are never training data (privacy promise in the spec).
    USER_CONVERSATIONS = "user_conversations"


class SourceConfig(_Section):
    name: str = Field(min_length=1)
    kind: SourceKind
    path: ConfigPath
    license: str | None = None  # SPDX id or a LicenseRef-…; required by the license gate
    allow_noncommercial: bool = False
    url: str | None = None  # where the data came from, for the model card
    # Keep only examples whose language is one of these (declared language for OASST,
    # otherwise the script-based tag, see training/data/language.py).
    languages: list[str] | None = None
    # Replace the example's system prompt with a persona's system prompt as the bot renders it.
    condition_on_personas: bool = False
    # OASST: follow only the best-ranked reply at each branch instead of every root->leaf path.
    best_only: bool = False
    max_examples: int | None = Field(default=None, ge=1)


class ModelSection(_Section):
    base: str = Field(min_length=1)  # hub id or local directory
    tokenizer: str | None = None  # defaults to `base`
    revision: str | None = None
    # A GGUF file inside `base` (transformers dequantizes it), e.g. the packaged SmolLM2.
    gguf_file: str | None = None
    trust_remote_code: bool = False
    attn_implementation: str | None = None  # None: the library default (sdpa)
    chat_template: ConfigPath | None = None  # a Jinja file overriding the tokenizer's template

    @field_validator("base", "tokenizer")
    @classmethod
    def _local_paths_resolved(cls, value: str | None, info: ValidationInfo) -> str | None:
        # "./models/x" or "../x" is a local directory relative to the config; hub ids stay.
        if value is None or not value.startswith((".", "/")):
            return value
        return str(_resolve_path(Path(value), info))


class LoraSection(_Section):
    r: int = Field(default=16, ge=1, le=512)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        min_length=1,
    )
    qlora: bool = False  # load the base model in 4-bit (bitsandbytes) and train LoRA on top

    @field_validator("r")
    @classmethod
    def _servable_rank(cls, value: int) -> int:
        if value > max(VLLM_LORA_RANKS):
            raise ValueError(f"vLLM serves ranks up to {max(VLLM_LORA_RANKS)}")
        return value


class DataSection(_Section):
    sources: list[SourceConfig] = Field(min_length=1)
    personas_dir: ConfigPath | None = None  # persona YAML cards for conditioning
    personas: list[str] = Field(default_factory=list)  # ids to condition on; empty: all cards
    languages: list[str] = Field(default_factory=lambda: ["ru", "en"])
    max_seq_len: int = Field(default=2048, ge=16)
    min_assistant_chars: int = Field(default=1, ge=1)
    dedup: bool = True
    eval_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)
    # Names that replace {{user}} in persona example dialogues, chosen deterministically.
    user_names: dict[str, list[str]] = Field(
        default_factory=lambda: {"en": ["Alex", "Sam", "Jamie"], "ru": ["Саша", "Женя", "Аня"]}
    )

    @model_validator(mode="after")
    def _unique_source_names(self) -> DataSection:
        names = [source.name for source in self.sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {duplicates}")
        return self


class TrainingSection(_Section):
    learning_rate: float = Field(default=2e-4, gt=0.0)
    lr_scheduler: Literal[
        "linear", "cosine", "cosine_with_restarts", "constant", "constant_with_warmup"
    ] = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
    epochs: float = Field(default=1.0, gt=0.0)
    max_steps: int | None = Field(default=None, ge=1)  # overrides epochs when set
    batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    weight_decay: float = Field(default=0.0, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0.0)
    # Padding-free packing: each micro-batch is concatenated into one row with position ids
    # restarting per example, so examples never attend to each other.
    packing: bool = False
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 where supported
    gradient_checkpointing: bool | Literal["auto"] = "auto"  # auto: on when a GPU is used
    logging_steps: int = Field(default=10, ge=1)
    save_steps: int = Field(default=200, ge=1)
    eval_steps: int | None = Field(default=None, ge=1)  # None: evaluate at the end only
    save_total_limit: int | None = Field(default=3, ge=1)
    full_determinism: bool = False  # deterministic kernels too (slower on GPU)


class EvaluationSection(_Section):
    enabled: bool = True
    prompts: ConfigPath | None = None  # persona check prompts; None: the built-in set
    personas: list[str] | None = None  # None: data.personas (or every card)
    max_new_tokens: int = Field(default=96, ge=1)
    forbidden_phrases: list[str] = Field(default_factory=list)
    batch_size: int = Field(default=8, ge=1)
    max_eval_examples: int | None = Field(default=None, ge=1)


class ExportSection(_Section):
    adapter_name: str
    merge: bool = False
    registry: ConfigPath | None = None  # None: registry.yaml next to the run's output dir
    personas: list[str] | None = None  # persona ids served by this adapter; None: data.personas

    @field_validator("adapter_name")
    @classmethod
    def _servable_name(cls, value: str) -> str:
        if not _ADAPTER_NAME_RE.match(value):
            raise ValueError(
                "must be 1-64 lowercase latin letters, digits, '.', '_' or '-' "
                "(it becomes the model name clients send to vLLM)"
            )
        return value


class RunConfig(_Section):
    name: str = Field(min_length=1)
    seed: int = 42
    output_dir: ConfigPath
    model: ModelSection
    lora: LoraSection = Field(default_factory=LoraSection)
    data: DataSection
    training: TrainingSection = Field(default_factory=TrainingSection)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    export: ExportSection

    @property
    def data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def checkpoints_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    @property
    def adapter_dir(self) -> Path:
        return self.output_dir / "adapter"

    @property
    def merged_dir(self) -> Path:
        return self.output_dir / "merged"

    @property
    def registry_path(self) -> Path:
        return self.export.registry or self.output_dir.parent / "registry.yaml"

    @property
    def persona_ids(self) -> list[str]:
        return list(self.data.personas)


def format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"{source}: {error.error_count()} problem(s) in the training config"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def parse_config(data: Any, *, base_dir: Path | None = None, source: str = "config") -> RunConfig:
    """Validate an already-parsed mapping; relative paths are resolved against `base_dir`."""
    try:
        return RunConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None


def load_config(path: Path) -> RunConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config ({error.strerror})") from None
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping at the top level")
    return parse_config(data, base_dir=path.resolve().parent, source=str(path))
