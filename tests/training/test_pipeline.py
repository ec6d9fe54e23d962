"""The whole pipeline through the CLI on the tiny model: build, train, evaluate, export."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel
from ruamel.yaml import YAML
from transformers import AutoModelForCausalLM
from typer.testing import CliRunner

from tests.training.conftest import CONFIGS, tiny_config_data
from training.cli import app
from training.config import load_config
from training.export import export_run
from training.registry import RegistryError, load_registry
from training.serving import ServeOptions, vllm_command, vllm_rank

runner = CliRunner()


def write_config(directory: Path, model_dir: Path, **overrides: Any) -> Path:
    data = tiny_config_data(model_dir, directory / "run", **overrides)
    for source in data["data"]["sources"]:
        source["path"] = str((CONFIGS / source["path"]).resolve())
    data["data"]["personas_dir"] = str((CONFIGS / data["data"]["personas_dir"]).resolve())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    with path.open("w") as handle:
        YAML().dump(data, handle)
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    path = write_config(
        tmp_path_factory.mktemp("pipeline"), tiny_model_dir, **{"training.packing": True}
    )
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "Run summary: tiny-cpu" in result.output
    assert "held-out loss" in result.output
    return path


def test_evaluation_report(finished_run: Path) -> None:
    config = load_config(finished_run)
    report = json.loads((config.output_dir / "report.json").read_text())
    held = report["held_out"]
    eval_lines = len((config.data_dir / "eval.jsonl").read_text().splitlines())
    assert held["examples"] == min(eval_lines, config.evaluation.max_eval_examples or eval_lines)
    assert held["tokens"] > 0
    for variant in ("base", "adapter"):
        assert held[variant]["loss"] > 0
        assert held[variant]["perplexity"] == pytest.approx(
            2.718281828 ** held[variant]["loss"], rel=1e-3
        )
    check = report["persona_check"]
    # mila speaks ru+en, max en: 3 language slots x 6 prompts each.
    assert check["prompts"] == 18 == len(check["samples"])
    assert set(check["adapter"]["personas"]) == {"mila", "max"}
    assert check["adapter"]["personas"]["mila"]["n"] == 12
    for sample in check["samples"]:
        assert {"reply", "in_character", "language_ok", "reasons"} <= set(sample["adapter"])
    markdown = (config.output_dir / "report.md").read_text()
    assert "| base |" in markdown and "| adapter |" in markdown and "## Persona check" in markdown
    assert report["training"]["global_step"] == 6


def test_export_layout_vllm_loads(finished_run: Path) -> None:
    config = load_config(finished_run)
    adapter = config.adapter_dir
    assert {p.name for p in adapter.iterdir()} >= {
        "adapter_config.json",
        "adapter_model.safetensors",
        "README.md",
    }
    adapter_config = json.loads((adapter / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "LORA"
    assert adapter_config["r"] == 8
    assert adapter_config["lora_alpha"] == 16
    assert set(adapter_config["target_modules"]) == {"q_proj", "v_proj"}
    assert adapter_config["base_model_name_or_path"] == config.model.base
    card = (adapter / "README.md").read_text()
    for needle in (
        "Apache-2.0",
        "CC0-1.0",
        "LicenseRef-Proprietary",
        "sample-oasst",
        "No conversations of the service's users",
        "Held-out loss",
    ):
        assert needle in card

    registry = load_registry(config.registry_path)
    assert registry.personas == {"mila": "tiny-companion", "max": "tiny-companion"}
    assert registry.adapter_path("tiny-companion", config.registry_path) == adapter.resolve()


def test_serve_command_for_the_registry(finished_run: Path) -> None:
    config = load_config(finished_run)
    result = runner.invoke(
        app,
        [
            "serve-command",
            str(config.registry_path),
            "--adapters-root",
            "/adapters",
            "--port",
            "8001",
        ],
    )
    assert result.exit_code == 0, result.output
    argv = shlex.split(result.output.replace("\\\n", " "))
    assert argv[:3] == ["vllm", "serve", config.model.base]
    assert "--enable-lora" in argv and "--enable-prefix-caching" in argv
    assert argv[argv.index("--max-lora-rank") + 1] == "8"
    assert argv[argv.index("--max-loras") + 1] == "1"
    assert argv[argv.index("--port") + 1] == "8001"
    module = json.loads(argv[argv.index("--lora-modules") + 1])
    assert module == {
        "name": "tiny-companion",
        "path": "/adapters/run/adapter",
        "base_model_name": config.model.base,
    }


def test_merged_model_matches_base_plus_adapter(finished_run: Path) -> None:
    config = load_config(finished_run)
    exported = export_run(config, merge=True)
    assert exported.merged_dir is not None
    merged = AutoModelForCausalLM.from_pretrained(exported.merged_dir).eval()
    base = AutoModelForCausalLM.from_pretrained(config.model.base)
    adapted = PeftModel.from_pretrained(base, str(config.adapter_dir)).eval()
    inputs = torch.tensor([[5, 80, 300, 12, 7]])
    with torch.no_grad():
        torch.testing.assert_close(
            merged(input_ids=inputs).logits, adapted(input_ids=inputs).logits, rtol=1e-4, atol=1e-4
        )


def test_registry_refuses_a_second_base_model(finished_run: Path, tmp_path: Path) -> None:
    config = load_config(finished_run)
    other = config.model_copy(update={"model": config.model.model_copy(update={"base": "x/y"})})
    with pytest.raises(RegistryError, match="one vLLM server serves one base model"):
        export_run(other)


def test_vllm_rank_rounding_and_empty_registry(tmp_path: Path) -> None:
    assert [vllm_rank(r) for r in (1, 2, 8, 9, 33, 300, 512)] == [1, 8, 8, 16, 64, 320, 512]
    with pytest.raises(RegistryError, match="no adapters"):
        vllm_command(load_registry(tmp_path / "none.yaml"), tmp_path / "none.yaml", ServeOptions())


def test_cli_reports_refused_sources_politely(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = write_config(tmp_path, tiny_model_dir)
    data = YAML(typ="safe").load(path.read_text())
    data["data"]["sources"][0]["license"] = "CC-BY-NC-SA-4.0"
    with path.open("w") as handle:
        YAML().dump(data, handle)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "non-commercial" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["build-data", str(path)])
    assert result.exit_code == 2 and "sample-openai" in result.output


def test_cli_reports_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nlora: {r: 0}\n")
    result = runner.invoke(app, ["train", str(path)])
    assert result.exit_code == 2
    assert "lora.r" in result.output and "output_dir" in result.output


def test_cli_tiny_model_and_a_missing_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tiny-model", str(tmp_path / "tiny")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tiny" / "config.json").is_file()
    assert (tmp_path / "tiny" / "tokenizer.json").is_file()
    path = write_config(tmp_path / "cfg", tmp_path / "no-such-model")
    result = runner.invoke(app, ["build-data", str(path)])
    assert result.exit_code == 2
    assert "cannot load the tokenizer" in result.output and "Traceback" not in result.output
