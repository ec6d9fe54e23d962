"""A tiny random Qwen2 model and a BPE tokenizer trained on the sample texts, built per session
(training/tiny.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from training.tiny import build_tiny_model, build_tokenizer

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "training" / "data" / "samples"
CONFIGS = REPO / "training" / "configs"


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return build_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"), tokenizer)


def tiny_config_data(model_dir: Path, output_dir: Path, **overrides: Any) -> dict[str, Any]:
    """training/configs/tiny-cpu.yaml with the test's model and output directory."""
    data: dict[str, Any] = YAML(typ="safe").load((CONFIGS / "tiny-cpu.yaml").read_text())
    data["model"]["base"] = str(model_dir)
    data["output_dir"] = str(output_dir)
    for dotted, value in overrides.items():
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    return data


def make_config(model_dir: Path, output_dir: Path, **overrides: Any) -> Any:
    from training.config import parse_config

    return parse_config(tiny_config_data(model_dir, output_dir, **overrides), base_dir=CONFIGS)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path
