"""`companion stats ...` against the hand-counted world (conftest.py): tables and chart files."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from companion.cli import build_cli
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.usefixtures("world")

PERIOD = ["--since", "2026-11-01", "--until", "2026-11-07"]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, mongo_uri: str, mongo_db: Any, redis_prefix: str) -> None:
    monkeypatch.setenv("COMPANION_MONGO__URI", mongo_uri)
    monkeypatch.setenv("COMPANION_MONGO__DATABASE", mongo_db.name)
    monkeypatch.setenv("COMPANION_REDIS__URL", REDIS_URL)
    monkeypatch.setenv("COMPANION_REDIS__KEY_PREFIX", redis_prefix)
    monkeypatch.setenv("COLUMNS", "200")


async def stats(*args: str) -> Result:
    # In a thread: the command runs its own event loop.
    return await asyncio.to_thread(CliRunner().invoke, build_cli(), ["stats", *args])


@pytest.mark.usefixtures("env")
async def test_funnel_prints_the_steps(tmp_path: Path) -> None:
    result = await stats("funnel", *PERIOD)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Onboarding funnel · 2026-11-01 … 2026-11-07" in out
    assert re.search(r"/start \(new people\)\s*│\s*8\s*│", out)
    assert re.search(r"Accepted the terms\s*│\s*4 \(66\.7%\)\s*│", out)
    assert re.search(r"10th message\s*│\s*1\s*│\s*50\.0%\s*│\s*12\.5%\s*│", out)


@pytest.mark.usefixtures("env")
async def test_revenue_table_and_charts_written(tmp_path: Path) -> None:
    result = await stats("revenue", *PERIOD, "--charts", str(tmp_path / "charts"))
    assert result.exit_code == 0, result.output
    assert "946.50" in result.output and "100.50" in result.output and "XTR" in result.output
    chart = tmp_path / "charts" / "revenue-2026-11-01-2026-11-07.png"
    assert Image.open(chart).format == "PNG"


@pytest.mark.usefixtures("env")
async def test_all_reports(tmp_path: Path) -> None:
    result = await stats("all", *PERIOD, "--charts", str(tmp_path))
    assert result.exit_code == 0, result.output
    for title in ("Activity", "Personas & modules", "PRO & churn", "Retention"):
        assert title in result.output
    assert len(list(tmp_path.glob("*.png"))) == 7
    assert "sealed-never-read" not in result.output


@pytest.mark.usefixtures("env")
async def test_a_bad_date_is_one_line() -> None:
    result = await stats("activity", "--since", "November")
    assert result.exit_code == 1
    assert "invalid period" in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("env")
async def test_raw_prints_what_the_rollups_print(mongo_db: Any) -> None:
    rolled = await stats("all", *PERIOD)
    assert await mongo_db["analytics_people"].count_documents({}) > 0
    raw = await stats("all", *PERIOD, "--raw")
    assert rolled.exit_code == raw.exit_code == 0, raw.output
    assert rolled.output == raw.output


@pytest.mark.usefixtures("env")
async def test_rebuild_drops_the_kept_days(mongo_db: Any) -> None:
    assert (await stats("paywall", *PERIOD)).exit_code == 0
    kept = await mongo_db["analytics_people"].count_documents({})
    result = await stats("rebuild", "--since", "2026-11-02", "--until", "2026-11-03")
    assert result.exit_code == 0, result.output
    assert "dropped 6 kept day(s) of 2026-11-02 … 2026-11-03" in result.output  # 3 kinds × 2
    assert await mongo_db["analytics_people"].count_documents({}) == kept - 6
