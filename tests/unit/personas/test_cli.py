"""`companion personas ...` through typer's CliRunner, on the shipped library and on tmp dirs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from companion.cli.personas import app
from companion.personas.card_files import png_text_chunks, read_card_file
from companion.personas.loader import load_persona_file
from companion.personas.repository import packaged_library_dir
from tests.unit.personas.helpers import persona_yaml, write_persona

runner = CliRunner()
ISSUE_LINE = re.compile(r"^[\w.-]+\.ya?ml(:\d+)?( [\w\[\].]+)?: .+$")


@pytest.fixture(autouse=True)
def _shipped_library(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment wins over a developer's .env, so these tests always see the shipped cards.
    monkeypatch.setenv("COMPANION_PERSONAS__DIRECTORY", str(packaged_library_dir()))


def test_validate_shipped_library() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    count = len(list(packaged_library_dir().glob("*.yaml")))
    assert f"✓ {count} persona(s) valid" in result.output


def test_validate_reports_each_issue_on_one_line(tmp_path: Path) -> None:
    write_persona(tmp_path, "good")
    (tmp_path / "syntax.yaml").write_text("id: syntax\nname: [oops\n", encoding="utf-8")
    (tmp_path / "module.yaml").write_text(persona_yaml("module", module="dating"), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 2
    assert all(ISSUE_LINE.match(line) for line in lines), lines
    assert any(line.startswith("module.yaml:5 module: Input should be") for line in lines)
    assert any(line.startswith("syntax.yaml:") and "YAML syntax error" in line for line in lines)
    assert "2 problem(s) in 2 file(s); 1 persona(s) valid" in result.stderr


def test_validate_single_file_and_missing_path(tmp_path: Path) -> None:
    path = write_persona(tmp_path, "solo")
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    missing = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert "no such file or directory" in missing.stderr


def test_list_shows_table() -> None:
    result = runner.invoke(app, ["list"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert {"kylie", "mark", "vera", "sherlock-holmes"} <= set(rows)
    assert "PRO 18+" in rows["kylie"] and "Partner" in rows["kylie"]
    assert "PRO" not in rows["vera"] and "Support" in rows["vera"]


def test_list_uses_the_directory_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_persona(tmp_path, "only-one", name="Only One")
    monkeypatch.setenv("COMPANION_PERSONAS__DIRECTORY", str(tmp_path))
    result = runner.invoke(app, ["list"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "only-one" in result.stdout and "kylie" not in result.stdout


def test_show_persona() -> None:
    result = runner.invoke(app, ["show", "mark"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Марк" in result.stdout and "beard" in result.stdout
    assert "img/mark-study.jpg" in result.stdout


def test_show_unknown_id_is_one_line_error() -> None:
    result = runner.invoke(app, ["show", "nobody"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown persona id 'nobody'")


def test_show_broken_persona_explains(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(
        persona_yaml("broken").replace("speaking_style: Plain.\n", ""), encoding="utf-8"
    )
    result = runner.invoke(app, ["--dir", str(tmp_path), "show", "broken"])
    assert result.exit_code == 1
    assert "broken.yaml:1 speaking_style: required field is missing" in result.stderr


def test_preview_in_russian() -> None:
    result = runner.invoke(app, ["preview", "kylie", "--language", "ru"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    kylie = load_persona_file(packaged_library_dir() / "kylie.yaml")
    assert "Кайли" in result.stdout
    assert "Партнёр · PRO · 18+" in result.stdout
    assert kylie.greetings["ru"][0][:30] in result.stdout
    assert "kylie-beach.jpg" in result.stdout  # the cover is the first non-adult image


def test_export_and_import_json(tmp_path: Path) -> None:
    card_path = tmp_path / "vera.json"
    result = runner.invoke(app, ["export", "vera", "--format", "json", "--out", str(card_path)])
    assert result.exit_code == 0, result.output
    card = json.loads(card_path.read_text(encoding="utf-8"))
    assert card["spec"] == "chara_card_v2" and card["data"]["name"] == "Vera"

    out_dir = tmp_path / "lib"
    result = runner.invoke(app, ["import", str(card_path), "--out", str(out_dir)])
    assert result.exit_code == 0, result.output
    imported = load_persona_file(out_dir / "vera.yaml")
    original = load_persona_file(packaged_library_dir() / "vera.yaml")
    assert imported.personality == original.personality
    assert imported.greetings == original.greetings

    again = runner.invoke(app, ["import", str(card_path), "--out", str(out_dir)])
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_export_png_v3_and_import_with_module(tmp_path: Path) -> None:
    png = tmp_path / "nova.png"
    result = runner.invoke(
        app, ["export", "nova-ray", "--format", "png", "--version", "3", "--out", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert set(png_text_chunks(png.read_bytes())) == {"ccv3", "chara"}
    assert read_card_file(png)["spec"] == "chara_card_v3"

    out_dir = tmp_path / "lib"
    result = runner.invoke(
        app,
        ["import", str(png), "--module", "practice", "--id", "nova-copy", "--out", str(out_dir)],
    )
    assert result.exit_code == 0, result.output
    persona = load_persona_file(out_dir / "nova-copy.yaml")
    assert persona.module.value == "practice"
    assert persona.gallery[0].file == "img/nova-copy-card.png"
    assert (out_dir / "img" / "nova-copy-card.png").is_file()
    validated = runner.invoke(app, ["validate", str(out_dir)])
    assert validated.exit_code == 0, validated.output


def test_import_garbage_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope", encoding="utf-8")
    result = runner.invoke(app, ["import", str(bad), "--out", str(tmp_path / "lib")])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: bad.json: invalid JSON at line 1")
    assert not (tmp_path / "lib").exists() or not any((tmp_path / "lib").iterdir())


def test_export_unknown_id() -> None:
    result = runner.invoke(app, ["export", "nobody", "--format", "json"])
    assert result.exit_code == 1
    assert "unknown persona id" in result.stderr


def test_import_png_with_broken_picture_fails_cleanly(tmp_path: Path) -> None:
    png = tmp_path / "vera.png"
    assert (
        runner.invoke(app, ["export", "vera", "--format", "png", "--out", str(png)]).exit_code == 0
    )
    raw = bytearray(png.read_bytes())
    start = raw.index(b"IDAT") + 4
    raw[start : start + 64] = b"\x00" * 64  # the card chunk survives, the picture does not
    png.write_bytes(bytes(raw))
    result = runner.invoke(app, ["import", str(png), "--out", str(tmp_path / "lib")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: vera.png: the card's picture cannot be read")
    assert not (tmp_path / "lib").exists()


def test_preview_renders_the_system_prompt() -> None:
    result = runner.invoke(app, ["preview", "mark", "--language", "en"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    prompt = result.stdout.split("system prompt", 1)[1]
    assert "Mark is 32" in prompt  # the card's description made it into the module's template
    assert "groomed beard" in prompt
