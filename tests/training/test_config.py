from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.conftest import CONFIGS, REPO, tiny_config_data
from training.config import ConfigError, SourceKind, load_config, parse_config


def test_example_configs_load_and_resolve_paths_against_their_directory() -> None:
    tiny = load_config(CONFIGS / "tiny-cpu.yaml")
    assert tiny.data.sources[0].path == REPO / "training/data/samples/openai_messages.jsonl"
    assert tiny.data.personas_dir == REPO / "training/data/samples/personas"
    assert tiny.output_dir == REPO / "training/runs/tiny-cpu"
    assert tiny.registry_path == REPO / "training/runs/registry.yaml"

    real = load_config(CONFIGS / "persona-lora.yaml")
    assert real.model.base.startswith("Qwen/")
    assert {s.kind for s in real.data.sources} >= {SourceKind.OASST_TREES}
    assert all(s.license for s in real.data.sources)


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        ("lora.r", 0, "lora.r"),
        ("lora.r", 1024, "lora.r"),
        ("training.learning_rate", -1, "training.learning_rate"),
        ("training.lr_scheduler", "zigzag", "training.lr_scheduler"),
        ("data.eval_fraction", 1.5, "data.eval_fraction"),
        ("export.adapter_name", "Bad Name!", "export.adapter_name"),
        ("training.unknown_knob", 1, "training.unknown_knob"),
    ],
)
def test_validation_errors_name_the_field(
    tmp_path: Path, dotted: str, value: object, field: str
) -> None:
    data = tiny_config_data(tmp_path / "model", tmp_path / "out", **{dotted: value})
    with pytest.raises(ConfigError) as error:
        parse_config(data, base_dir=CONFIGS, source="bad.yaml")
    assert f"  {field}:" in str(error.value)
    assert str(error.value).startswith("bad.yaml:")


def test_source_errors_name_the_source_index(tmp_path: Path) -> None:
    data = tiny_config_data(tmp_path / "model", tmp_path / "out")
    data["data"]["sources"][1]["kind"] = "csv"
    with pytest.raises(ConfigError, match=r"data\.sources\.1\.kind"):
        parse_config(data, base_dir=CONFIGS)


def test_duplicate_source_names_are_refused(tmp_path: Path) -> None:
    data = tiny_config_data(tmp_path / "model", tmp_path / "out")
    data["data"]["sources"][1]["name"] = data["data"]["sources"][0]["name"]
    with pytest.raises(ConfigError, match="source names must be unique"):
        parse_config(data, base_dir=CONFIGS)


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
