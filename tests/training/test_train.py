from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, TrainerCallback

from tests.training.conftest import make_config, write_jsonl
from training.evaluate import held_out_loss
from training.modeling import TrainingSetupError, build_trainable_model, plan_device
from training.tokenization import ChatEncoder
from training.train import DatasetMissingError, run_training

DIALOGUE = [
    {"role": "user", "content": "What do you like in the evening?"},
    {"role": "assistant", "content": "Long walks along the embankment and herbal tea."},
]


def repeated_dataset_config(tmp_path: Path, model_dir: Path, **overrides: Any) -> Any:
    """One dialogue repeated: a dataset the tiny model can learn in a few steps."""
    config = make_config(
        model_dir,
        tmp_path / "out",
        **{
            "data.sources": [
                {
                    "name": "one",
                    "kind": "openai_messages",
                    "path": str(tmp_path / "one.jsonl"),
                    "license": "CC0-1.0",
                }
            ],
            "data.dedup": False,
            "data.eval_fraction": 0.0,
            **overrides,
        },
    )
    config.data_dir.mkdir(parents=True)
    write_jsonl(
        config.data_dir / "train.jsonl",
        [{"messages": DIALOGUE, "source": "one", "language": "en", "persona_id": None}] * 8,
    )
    return config


def adapter_weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "adapter_model.safetensors"))


def test_training_lowers_the_loss_and_saves_a_reloadable_adapter(
    tmp_path: Path, tiny_model_dir: Path, tokenizer: Any
) -> None:
    config = repeated_dataset_config(
        tmp_path,
        tiny_model_dir,
        **{
            "training.max_steps": 12,
            "training.learning_rate": 5e-2,
            "lora.target_modules": ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
        },
    )
    result = run_training(config)
    assert result.global_step == 12
    assert result.tokens_seen > 0 and result.tokens_per_s > 0
    assert json.loads((config.output_dir / "train_result.json").read_text())["global_step"] == 12

    encoded = ChatEncoder(tokenizer, 512).encode(DIALOGUE)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, str(config.adapter_dir)).eval()
    with model.disable_adapter():
        before, tokens = held_out_loss(model, [encoded], tokenizer.pad_token_id, 1, "cpu")
    after, _ = held_out_loss(model, [encoded], tokenizer.pad_token_id, 1, "cpu")
    assert tokens == encoded.assistant_tokens
    assert after < before * 0.8, (before, after)


def test_save_and_reload_give_identical_logits(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = repeated_dataset_config(tmp_path, tiny_model_dir)
    plan = plan_device(config)
    torch.manual_seed(3)
    model = build_trainable_model(config, plan).eval()
    with torch.no_grad():  # make the adapter do something: LoRA B starts at zero
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    inputs = torch.tensor([[3, 17, 42, 99, 7, 250]])
    with torch.no_grad():
        expected = model(input_ids=inputs).logits
        with model.disable_adapter():
            plain = model(input_ids=inputs).logits
    model.save_pretrained(str(tmp_path / "saved"))

    fresh = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    reloaded = PeftModel.from_pretrained(fresh, str(tmp_path / "saved")).eval()
    with torch.no_grad():
        got = reloaded(input_ids=inputs).logits
    assert torch.equal(got, expected)
    assert not torch.allclose(plain, expected)


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def test_interrupted_run_resumes_to_the_same_adapter(tmp_path: Path, tiny_model_dir: Path) -> None:
    overrides = {"training.max_steps": 6, "training.save_steps": 3, "training.batch_size": 2}
    straight = repeated_dataset_config(tmp_path / "a", tiny_model_dir, **overrides)
    run_training(straight)

    interrupted = repeated_dataset_config(tmp_path / "b", tiny_model_dir, **overrides)
    first = run_training(interrupted, callbacks=[StopAt(3)])
    assert first.global_step == 3
    assert (interrupted.checkpoints_dir / "checkpoint-3").is_dir()
    resumed = run_training(interrupted, resume=True)
    assert resumed.resumed_from is not None and resumed.resumed_from.endswith("checkpoint-3")
    assert resumed.global_step == 6

    a, b = adapter_weights(straight.adapter_dir), adapter_weights(interrupted.adapter_dir)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_same_seed_same_adapter_other_seed_other_adapter(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    runs = {}
    for name, seed in (("x", 11), ("y", 11), ("z", 12)):
        config = repeated_dataset_config(
            tmp_path / name, tiny_model_dir, **{"seed": seed, "training.max_steps": 2}
        )
        run_training(config)
        runs[name] = adapter_weights(config.adapter_dir)
    assert all(torch.equal(runs["x"][k], runs["y"][k]) for k in runs["x"])
    assert not all(torch.equal(runs["x"][k], runs["z"][k]) for k in runs["x"])


def test_missing_dataset_and_bad_target_modules(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = make_config(tiny_model_dir, tmp_path / "empty")
    with pytest.raises(DatasetMissingError, match="build the dataset first"):
        run_training(config)
    bad = repeated_dataset_config(tmp_path, tiny_model_dir, **{"lora.target_modules": ["wq"]})
    with pytest.raises(TrainingSetupError, match=r"\['wq'\]"):
        run_training(bad)


def test_qlora_without_bitsandbytes_or_gpu_is_a_clear_error(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = repeated_dataset_config(tmp_path, tiny_model_dir, **{"lora.qlora": True})
    with pytest.raises(TrainingSetupError, match="qlora"):
        run_training(config)


def test_device_plan_on_cpu(tmp_path: Path, tiny_model_dir: Path) -> None:
    auto = plan_device(
        make_config(
            tiny_model_dir,
            tmp_path,
            **{"training.precision": "auto", "training.gradient_checkpointing": "auto"},
        ),
        cuda=False,
    )
    assert (auto.device, auto.precision, auto.gradient_checkpointing) == ("cpu", "fp32", False)
    forced = plan_device(
        make_config(
            tiny_model_dir,
            tmp_path,
            **{"training.precision": "bf16", "training.gradient_checkpointing": True},
        ),
        cuda=False,
    )
    assert (forced.precision, forced.gradient_checkpointing, forced.dtype) == (
        "bf16",
        True,
        torch.bfloat16,
    )
    with pytest.raises(TrainingSetupError, match="fp16 needs a CUDA GPU"):
        plan_device(
            make_config(tiny_model_dir, tmp_path, **{"training.precision": "fp16"}), cuda=False
        )
