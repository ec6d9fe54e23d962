from __future__ import annotations

from pathlib import Path

import pytest

from companion.llm.base import LLMUnavailableError
from companion.llm.local_runtime import ModelSource, resolve_model_source


def test_directory_with_config_is_a_transformers_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model_source(str(tmp_path)) == ModelSource(str(tmp_path))


def test_directory_with_one_gguf_uses_it(tmp_path: Path) -> None:
    (tmp_path / "model.Q4_K_M.gguf").write_bytes(b"")
    assert resolve_model_source(str(tmp_path)) == ModelSource(str(tmp_path), "model.Q4_K_M.gguf")


def test_explicit_gguf_file_setting_wins(tmp_path: Path) -> None:
    (tmp_path / "a.gguf").write_bytes(b"")
    (tmp_path / "b.gguf").write_bytes(b"")
    assert resolve_model_source(str(tmp_path), "b.gguf") == ModelSource(str(tmp_path), "b.gguf")


def test_path_to_a_gguf_file(tmp_path: Path) -> None:
    file = tmp_path / "m.gguf"
    file.write_bytes(b"")
    assert resolve_model_source(str(file)) == ModelSource(str(tmp_path), "m.gguf")


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMUnavailableError, match="does not exist"):
        resolve_model_source(str(tmp_path / "missing"))


def test_anything_else_is_a_hugging_face_id() -> None:
    assert resolve_model_source("HuggingFaceTB/SmolLM2-360M-Instruct") == ModelSource(
        "HuggingFaceTB/SmolLM2-360M-Instruct"
    )
