"""LoRA training of one run: encoded chats -> transformers Trainer -> adapter directory.

Loss is on assistant tokens only (training/tokenization.py builds the labels); checkpoints go
to `<output_dir>/checkpoints` and `resume=True` continues from the newest one; the seed fixes
LoRA initialisation, data order and dropout.
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import enable_full_determinism, get_last_checkpoint

from training.collators import EncodedDataset, PackingCollator, PaddingCollator
from training.config import RunConfig
from training.data.build import read_examples
from training.data.records import Example
from training.modeling import DevicePlan, build_trainable_model, load_tokenizer, plan_device
from training.tokenization import ChatEncoder, EncodedChat


class DatasetMissingError(Exception):
    """The run's dataset has not been built yet."""


@dataclass(frozen=True)
class TrainResult:
    global_step: int
    train_loss: float
    runtime_s: float
    tokens_seen: int
    tokens_per_s: float
    peak_memory_mb: float
    device: str
    precision: str
    gradient_checkpointing: bool
    train_examples: int
    skipped_examples: int
    resumed_from: str | None
    adapter_dir: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def encode_examples(
    encoder: ChatEncoder, examples: Sequence[Example]
) -> tuple[list[EncodedChat], int]:
    """Encoded examples, and how many were dropped for having no assistant token left."""
    encoded = [encoder.encode(example.chat()) for example in examples]
    kept = [item for item in encoded if item.assistant_tokens > 0]
    return kept, len(encoded) - len(kept)


def dataset_paths(config: RunConfig) -> tuple[Path, Path]:
    train_path, eval_path = config.data_dir / "train.jsonl", config.data_dir / "eval.jsonl"
    if not train_path.is_file():
        raise DatasetMissingError(
            f"{train_path} not found: build the dataset first (companion-train build-data)"
        )
    return train_path, eval_path


def peak_memory_mb(device: str) -> float:
    """Peak GPU memory allocated by torch, or the process's peak resident memory on CPU."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def training_arguments(config: RunConfig, plan: DevicePlan, has_eval: bool) -> TrainingArguments:
    section = config.training
    evaluate_during = has_eval and section.eval_steps is not None
    return TrainingArguments(
        output_dir=str(config.checkpoints_dir),
        seed=config.seed,
        data_seed=config.seed,
        full_determinism=section.full_determinism,
        learning_rate=section.learning_rate,
        lr_scheduler_type=section.lr_scheduler,
        warmup_steps=section.warmup_ratio,  # a float below 1 is a ratio of the total steps
        num_train_epochs=section.epochs,
        max_steps=section.max_steps or -1,
        per_device_train_batch_size=section.batch_size,
        per_device_eval_batch_size=section.batch_size,
        gradient_accumulation_steps=section.gradient_accumulation_steps,
        weight_decay=section.weight_decay,
        max_grad_norm=section.max_grad_norm,
        bf16=plan.precision == "bf16",
        fp16=plan.precision == "fp16",
        gradient_checkpointing=plan.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        logging_steps=section.logging_steps,
        save_strategy="steps",
        save_steps=section.save_steps,
        save_total_limit=section.save_total_limit,
        eval_strategy="steps" if evaluate_during else "no",
        eval_steps=section.eval_steps if evaluate_during else None,
        use_cpu=plan.device == "cpu",
        report_to="none",
        remove_unused_columns=False,
        disable_tqdm=True,  # the CLI draws its own progress bar
        include_num_input_tokens_seen="all" if section.packing else "non_padding",
        dataloader_num_workers=0,
    )


def run_training(
    config: RunConfig,
    *,
    resume: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    plan: DevicePlan | None = None,
) -> TrainResult:
    plan = plan or plan_device(config)
    # Seeded before the model is built: LoRA's initial weights come from this generator.
    if config.training.full_determinism:
        enable_full_determinism(config.seed)
    else:
        set_seed(config.seed)
    train_path, eval_path = dataset_paths(config)
    tokenizer = load_tokenizer(config)
    encoder = ChatEncoder(tokenizer, config.data.max_seq_len)
    train_items, skipped = encode_examples(encoder, read_examples(train_path))
    if not train_items:
        raise DatasetMissingError(f"{train_path}: no example has assistant tokens to learn")
    eval_items: list[EncodedChat] = []
    if eval_path.is_file():
        eval_items, _ = encode_examples(encoder, read_examples(eval_path))

    model = build_trainable_model(config, plan)
    collator: PackingCollator | PaddingCollator = (
        PackingCollator() if config.training.packing else PaddingCollator(tokenizer.pad_token_id)
    )
    trainer = Trainer(
        model=model,
        args=training_arguments(config, plan, bool(eval_items)),
        train_dataset=EncodedDataset(train_items),
        eval_dataset=EncodedDataset(eval_items) if eval_items else None,
        data_collator=collator,
        callbacks=list(callbacks),
    )
    if callbacks:
        trainer.remove_callback(PrinterCallback)  # the caller shows progress its own way
    checkpoint = None
    if resume and config.checkpoints_dir.is_dir():
        checkpoint = get_last_checkpoint(str(config.checkpoints_dir))  # type: ignore[no-untyped-call]
    if plan.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    model.save_pretrained(str(config.adapter_dir))

    runtime = float(output.metrics.get("train_runtime", 0.0))
    tokens = int(trainer.state.num_input_tokens_seen)
    result = TrainResult(
        global_step=int(output.global_step),
        train_loss=float(output.training_loss),
        runtime_s=round(runtime, 3),
        tokens_seen=tokens,
        tokens_per_s=round(tokens / runtime, 1) if runtime > 0 else 0.0,
        peak_memory_mb=round(peak_memory_mb(plan.device), 1),
        device=plan.device,
        precision=plan.precision,
        gradient_checkpointing=plan.gradient_checkpointing,
        train_examples=len(train_items),
        skipped_examples=skipped,
        resumed_from=checkpoint,
        adapter_dir=str(config.adapter_dir),
    )
    (config.output_dir / "train_result.json").write_text(
        json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    return result
