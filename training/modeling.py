"""Loading the base model and tokenizer, choosing precision, and wrapping the model in LoRA."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Literal

import torch
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer

from training.config import RunConfig

Precision = Literal["bf16", "fp16", "fp32"]
_DTYPES: dict[Precision, torch.dtype] = {
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "fp32": torch.float32,
}


class TrainingSetupError(Exception):
    """The run cannot start as configured on this machine (missing package, no GPU, ...)."""


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda" or "cpu"
    precision: Precision
    gradient_checkpointing: bool

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self.precision]


def plan_device(config: RunConfig, *, cuda: bool | None = None) -> DevicePlan:
    """bf16 where the GPU supports it, fp16 on older GPUs, fp32 on CPU; gradient checkpointing
    on by default on GPU (memory is the limit there), off on CPU (time is)."""
    has_cuda = torch.cuda.is_available() if cuda is None else cuda
    wanted = config.training.precision
    if wanted == "auto":
        if has_cuda:
            precision: Precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "fp32"
    else:
        precision = wanted
    if precision == "fp16" and not has_cuda:
        raise TrainingSetupError("training.precision fp16 needs a CUDA GPU; use auto or fp32")
    checkpointing = config.training.gradient_checkpointing
    return DevicePlan(
        device="cuda" if has_cuda else "cpu",
        precision=precision,
        gradient_checkpointing=has_cuda if checkpointing == "auto" else bool(checkpointing),
    )


def load_tokenizer(config: RunConfig) -> Any:
    source = config.model.tokenizer or config.model.base
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source,
            revision=config.model.revision,
            trust_remote_code=config.model.trust_remote_code,
            **({"gguf_file": config.model.gguf_file} if config.model.gguf_file else {}),
        )
    except (OSError, ValueError) as error:
        raise TrainingSetupError(f"cannot load the tokenizer of {source!r}: {error}") from None
    if config.model.chat_template is not None:
        tokenizer.chat_template = config.model.chat_template.read_text(encoding="utf-8")
    if tokenizer.pad_token_id is None:
        # Padding never carries loss (labels -100, attention mask 0), so EOS is a safe pad.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _quantization_config(plan: DevicePlan) -> Any:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise TrainingSetupError(
            "lora.qlora needs the bitsandbytes package (pip install bitsandbytes) and a CUDA "
            "GPU; install it or set lora.qlora: false"
        )
    if plan.device != "cuda":
        raise TrainingSetupError("lora.qlora needs a CUDA GPU; set lora.qlora: false on CPU")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=plan.dtype,
    )


def load_base_model(config: RunConfig, plan: DevicePlan, *, quantized: bool = False) -> Any:
    kwargs: dict[str, Any] = {
        "revision": config.model.revision,
        "trust_remote_code": config.model.trust_remote_code,
        "dtype": plan.dtype,
    }
    if config.model.gguf_file:
        kwargs["gguf_file"] = config.model.gguf_file
    if config.model.attn_implementation:
        kwargs["attn_implementation"] = config.model.attn_implementation
    if quantized:
        kwargs["quantization_config"] = _quantization_config(plan)
        kwargs["device_map"] = {"": 0}
    auto: Any = AutoModelForCausalLM
    try:
        model = auto.from_pretrained(config.model.base, **kwargs)
    except (OSError, ValueError) as error:
        raise TrainingSetupError(f"cannot load the model {config.model.base!r}: {error}") from None
    if config.model.gguf_file:
        _forget_gguf_origin(model)
    if not quantized:
        model.to(plan.device)
    return model


def _forget_gguf_origin(model: Any) -> None:
    """transformers dequantizes GGUF weights into ordinary tensors on load but keeps a GGUF
    "quantizer" marker that refuses training and saving; the weights are plain, so drop it."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def lora_config(config: RunConfig) -> LoraConfig:
    return LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=list(config.lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def build_trainable_model(config: RunConfig, plan: DevicePlan) -> Any:
    """The base model (4-bit with QLoRA) with fresh LoRA layers; only LoRA weights train."""
    model = load_base_model(config, plan, quantized=config.lora.qlora)
    model.config.use_cache = False  # no KV cache in training; packing relies on it too
    if config.lora.qlora:
        model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            model, use_gradient_checkpointing=plan.gradient_checkpointing
        )
    elif plan.gradient_checkpointing:
        model.enable_input_require_grads()
    missing = [
        name
        for name in config.lora.target_modules
        if not any(module.endswith(name) for module, _ in model.named_modules())
    ]
    if missing:
        raise TrainingSetupError(
            f"lora.target_modules {missing} are not layers of {config.model.base}"
        )
    return get_peft_model(model, lora_config(config))


def load_adapter_model(config: RunConfig, plan: DevicePlan) -> Any:
    """The base model with the run's trained adapter, for evaluation."""
    base = load_base_model(config, plan, quantized=config.lora.qlora)
    model = PeftModel.from_pretrained(base, str(config.adapter_dir))
    model.eval()
    return model
