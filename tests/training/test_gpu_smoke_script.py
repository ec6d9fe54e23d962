"""training/scripts/gpu_smoke.sh run as it is, through bash, on the CPU with the tiny model and
two steps: the YAML it writes must load, `python -m training run` must finish, and every report
file it copies must be there and hold the numbers BENCHMARKS.md records."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.training.conftest import REPO
from training.config import load_config

SCRIPT = REPO / "training" / "scripts" / "gpu_smoke.sh"
STEPS = 2
# What the script leaves in its destination: the files it copies from the run (named
# <path under run/ with "/" replaced by "_">), plus the GPU line and the log.
COPIED = [
    "report.json",
    "report.md",
    "train_result.json",
    "data_manifest.json",
    "adapter_adapter_config.json",
    "adapter_README.md",
]
WRITTEN = ["gpu.txt", "run.log"]


@dataclass(frozen=True)
class SmokeRun:
    model_dir: Path
    dest: Path
    work: Path
    output: str


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> SmokeRun:
    root = tmp_path_factory.mktemp("gpu-smoke")
    dest, tmpdir = root / "dest", root / "tmp"
    tmpdir.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "OUT"}
    env.update(
        # Relative to the working directory below: the script must make it absolute before
        # writing it into a YAML that lives elsewhere.
        MODEL=f"./{tiny_model_dir.name}",
        STEPS=str(STEPS),
        PYTHON=sys.executable,
        TMPDIR=str(tmpdir),  # the script's work directory goes here, not into /tmp
        WHEELS=str(root / "no-wheels"),  # never pip-install a developer's carried .whl/
        HF_HUB_OFFLINE="1",
    )
    result = subprocess.run(
        ["bash", str(SCRIPT), str(dest)],
        cwd=tiny_model_dir.parent,  # not the repository: the script must find it itself
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    works = list(tmpdir.glob("companion-gpu-smoke.*"))
    assert len(works) == 1, works
    return SmokeRun(tiny_model_dir.resolve(), dest, works[0], output)


def test_every_report_file_is_copied(smoke_run: SmokeRun) -> None:
    present = sorted(path.name for path in smoke_run.dest.iterdir())
    assert present == sorted(COPIED + WRITTEN)
    for name in COPIED + WRITTEN:
        assert (smoke_run.dest / name).stat().st_size > 0, name
    log = (smoke_run.dest / "run.log").read_text(encoding="utf-8")
    assert "Run summary: gpu-smoke" in log
    assert "wall seconds:" in log
    assert f"report files in {smoke_run.dest}" in smoke_run.output


def test_gpu_line_without_nvidia_smi(smoke_run: SmokeRun) -> None:
    gpu = (smoke_run.dest / "gpu.txt").read_text(encoding="utf-8").strip()
    if shutil.which("nvidia-smi") is None:
        assert gpu == "no nvidia-smi"
    else:
        assert gpu


def test_the_written_yaml_is_a_valid_config(smoke_run: SmokeRun) -> None:
    config = load_config(smoke_run.work / "smoke.yaml")
    assert config.name == "gpu-smoke"
    assert config.model.base == str(smoke_run.model_dir)
    assert config.output_dir == smoke_run.work / "run"
    assert config.training.max_steps == STEPS
    assert config.data.personas == ["mila", "max"]
    assert [source.name for source in config.data.sources] == [
        "sample-openai",
        "sample-sharegpt",
        "sample-oasst",
        "persona-cards",
    ]
    for source in config.data.sources:
        assert source.path.exists(), source.path
    assert (smoke_run.work / "run" / "adapter" / "adapter_model.safetensors").is_file()


def test_report_has_held_out_numbers_for_base_and_adapter(smoke_run: SmokeRun) -> None:
    report = read_json(smoke_run.dest / "report.json")
    assert report["run"] == "gpu-smoke"
    assert report["base_model"] == str(smoke_run.model_dir)
    held = report["held_out"]
    assert held["examples"] > 0
    assert held["tokens"] > 0
    for variant in ("base", "adapter"):
        loss, perplexity = held[variant]["loss"], held[variant]["perplexity"]
        assert math.isfinite(loss) and loss > 0, (variant, loss)
        assert perplexity == pytest.approx(math.exp(loss), rel=1e-3), variant
    check = report["persona_check"]
    assert check is not None and check["prompts"] > 0
    for variant in ("base", "adapter"):
        assert check[variant]["overall"]["n"] == check["prompts"]
    assert report["training"]["global_step"] == STEPS
    markdown = (smoke_run.dest / "report.md").read_text(encoding="utf-8")
    assert "| base |" in markdown and "| adapter |" in markdown


def test_train_result_has_throughput_and_peak_memory(smoke_run: SmokeRun) -> None:
    result = read_json(smoke_run.dest / "train_result.json")
    assert result["global_step"] == STEPS
    assert result["tokens_seen"] > 0
    assert result["tokens_per_s"] > 0
    assert result["peak_memory_mb"] > 0
    assert result["device"] in {"cpu", "cuda"}
    assert math.isfinite(result["train_loss"])


def test_adapter_config_and_card_name_the_base_model(smoke_run: SmokeRun) -> None:
    adapter_config = read_json(smoke_run.dest / "adapter_adapter_config.json")
    assert adapter_config["base_model_name_or_path"] == str(smoke_run.model_dir)
    assert adapter_config["r"] == 16
    assert adapter_config["lora_alpha"] == 32
    assert adapter_config["inference_mode"] is True
    card = (smoke_run.dest / "adapter_README.md").read_text(encoding="utf-8")
    assert str(smoke_run.model_dir) in card
    manifest = read_json(smoke_run.dest / "data_manifest.json")
    assert manifest["run"] == "gpu-smoke"
    assert manifest["tokenizer"] == str(smoke_run.model_dir)
    assert len(manifest["sources"]) == 4
    assert all(source["examples_kept"] > 0 for source in manifest["sources"])
