"""Persona files with mistakes: every problem names the file, the field path and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.personas.issues import PersonaIssue
from companion.personas.loader import (
    PersonaFileError,
    check_persona_file,
    dump_persona_yaml,
    load_persona_file,
    validate_path,
)
from companion.personas.repository import packaged_library_dir
from tests.unit.personas.helpers import persona_yaml, write_image, write_persona

GALLERY = """\
gallery:
  - file: img/ok.png
    caption:
      ru: Пляж
      en: Beach
    tags: [beach]
"""


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_loads(tmp_path: Path) -> None:
    write_image(tmp_path / "img" / "ok.png")
    path = write_persona(tmp_path, "tester", gallery=GALLERY)
    persona = load_persona_file(path)
    assert persona.id == "tester"
    assert persona.name.get("ru") == "Тестер"
    assert persona.gallery[0].caption.get("en") == "Beach"


def test_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    text = persona_yaml("broken").replace("description: A test persona.", "description: [oops")
    path = _write(tmp_path, "broken.yaml", text)
    with pytest.raises(PersonaFileError) as caught:
        load_persona_file(path)
    (issue,) = caught.value.issues
    assert issue.file == path
    assert "YAML syntax error" in issue.message
    # The parser notices the unclosed flow sequence at or after the line it was opened on.
    assert issue.line is not None and issue.line >= _line_of(text, "description: [oops")
    assert str(issue).startswith(f"broken.yaml:{issue.line}: YAML syntax error")


def test_missing_field_is_named(tmp_path: Path) -> None:
    text = persona_yaml("nostyle").replace("speaking_style: Plain.\n", "")
    path = _write(tmp_path, "nostyle.yaml", text)
    _, issues = check_persona_file(path)
    assert [(i.field_path, i.message) for i in issues] == [
        ("speaking_style", "required field is missing")
    ]
    assert issues[0].line == 1


def test_wrong_type_points_at_the_nested_field_and_line(tmp_path: Path) -> None:
    write_image(tmp_path / "img" / "ok.png")
    gallery = GALLERY.replace("tags: [beach]", "tags: beach")
    text = persona_yaml("wrongtype", gallery=gallery)
    path = _write(tmp_path, "wrongtype.yaml", text)
    _, issues = check_persona_file(path)
    assert len(issues) == 1
    issue = issues[0]
    assert issue.field_path == "gallery[0].tags"
    assert issue.line == _line_of(text, "tags: beach")
    assert (
        str(issue) == f"wrongtype.yaml:{issue.line} gallery[0].tags: Input should be a valid list"
    )


def test_unknown_module(tmp_path: Path) -> None:
    text = persona_yaml("badmodule", module="dating")
    path = _write(tmp_path, "badmodule.yaml", text)
    _, issues = check_persona_file(path)
    assert [i.field_path for i in issues] == ["module"]
    assert issues[0].line == _line_of(text, "module: dating")
    assert "'support', 'partner', 'practice' or 'celebrity'" in issues[0].message


def test_missing_image(tmp_path: Path) -> None:
    text = persona_yaml("noimage", gallery=GALLERY)
    path = _write(tmp_path, "noimage.yaml", text)
    _, issues = check_persona_file(path)
    line = _line_of(text, "file: img/ok.png")
    assert [str(i) for i in issues] == [
        f"noimage.yaml:{line} gallery[0].file: image not found: img/ok.png"
    ]


def test_image_outside_the_directory_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "secret.png")
    library = tmp_path / "library"
    text = persona_yaml("escape", gallery=GALLERY.replace("img/ok.png", "../secret.png"))
    library.mkdir()
    path = _write(library, "escape.yaml", text)
    _, issues = check_persona_file(path)
    assert [i.field_path for i in issues] == ["gallery[0].file"]
    assert "inside the persona directory" in issues[0].message


def test_file_that_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "ok.png").write_text("not a picture")
    path = _write(tmp_path, "fake.yaml", persona_yaml("fake", gallery=GALLERY))
    _, issues = check_persona_file(path)
    assert [i.field_path for i in issues] == ["gallery[0].file"]
    assert "not a readable image" in issues[0].message


def test_several_problems_are_all_reported_in_line_order(tmp_path: Path) -> None:
    write_image(tmp_path / "img" / "ok.png")
    text = (
        persona_yaml("many", gallery=GALLERY)
        .replace("module: support", "module: 7")
        .replace("      en: Beach", "      en: 5")
        + "sampling:\n  temperature: 9\n  top_pp: 0.5\n"
    )
    path = _write(tmp_path, "many.yaml", text)
    _, issues = check_persona_file(path)
    found = {i.field_path: i for i in issues}
    assert set(found) == {
        "module",
        "gallery[0].caption.en",
        "sampling.temperature",
        "sampling.top_pp",
    }
    assert found["gallery[0].caption.en"].line == _line_of(text, "en: 5")
    assert found["sampling.temperature"].line == _line_of(text, "temperature: 9")
    assert "did you mean 'top_p'" in found["sampling.top_pp"].message
    assert [i.line for i in issues] == sorted(i.line or 0 for i in issues)


def test_text_with_a_colon_gets_a_hint(tmp_path: Path) -> None:
    text = persona_yaml("colon") + "boundaries:\n  - Only adults: never minors.\n"
    path = _write(tmp_path, "colon.yaml", text)
    _, issues = check_persona_file(path)
    assert [i.field_path for i in issues] == ["boundaries[0]"]
    assert "quotes" in issues[0].message
    assert issues[0].line == _line_of(text, "Only adults")


def test_model_level_rule_points_at_the_field(tmp_path: Path) -> None:
    text = persona_yaml("lonely").replace('  en: ["Hi!"]\n', "")
    path = _write(tmp_path, "lonely.yaml", text)
    _, issues = check_persona_file(path)
    assert len(issues) == 1
    assert issues[0].field_path == "greetings"
    assert issues[0].line == _line_of(text, "greetings:")
    assert "['en']" in issues[0].message


def test_partner_needs_pro_and_adult(tmp_path: Path) -> None:
    text = persona_yaml("partner1", module="partner")
    path = _write(tmp_path, "partner1.yaml", text)
    _, issues = check_persona_file(path)
    assert [i.field_path for i in issues] == ["module"]
    assert "pro_only" in issues[0].message


def test_adult_image_needs_adult_persona(tmp_path: Path) -> None:
    write_image(tmp_path / "img" / "ok.png")
    text = persona_yaml("shy", gallery=GALLERY + "    adult: true\n")
    path = _write(tmp_path, "shy.yaml", text)
    _, issues = check_persona_file(path)
    assert [i.field_path for i in issues] == ["gallery[0].adult"]


def test_id_must_match_file_name(tmp_path: Path) -> None:
    text = persona_yaml("someone")
    path = _write(tmp_path, "other.yaml", text)
    _, issues = check_persona_file(path)
    assert [(i.field_path, i.line) for i in issues] == [("id", 1)]
    assert "other" in issues[0].message


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write_persona(tmp_path, "twin")
    (tmp_path / "twin.yml").write_text(persona_yaml("twin"), encoding="utf-8")
    personas, issues = validate_path(tmp_path)
    assert [p.id for p in personas] == ["twin"]
    assert len(issues) == 1
    assert issues[0].file.name == "twin.yml"
    assert "duplicate id 'twin'" in issues[0].message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("- just\n- a list\n", "must be a mapping"),
        ("id: [1, 2\n", "YAML syntax error"),
        ("id: a\nid: b\n", "YAML syntax error"),
    ],
)
def test_files_that_are_not_cards(tmp_path: Path, content: str, expected: str) -> None:
    path = _write(tmp_path, "weird.yaml", content)
    _, issues = check_persona_file(path)
    assert len(issues) == 1
    assert expected in issues[0].message


def test_issue_string_without_line_or_field() -> None:
    issue = PersonaIssue(Path("/x/y/card.yaml"), "", None, "the file is empty")
    assert str(issue) == "card.yaml: the file is empty"


def test_dumped_yaml_loads_back_to_the_same_persona(tmp_path: Path) -> None:
    library = packaged_library_dir()
    for source in sorted(library.glob("*.yaml")):
        persona = load_persona_file(source)
        copy = tmp_path / source.name
        copy.write_text(dump_persona_yaml(persona), encoding="utf-8")
        (tmp_path / "img").mkdir(exist_ok=True)
        for image in persona.gallery:
            target = tmp_path / image.file
            if not target.exists():
                target.write_bytes((library / image.file).read_bytes())
        assert load_persona_file(copy) == persona


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = _write(tmp_path, "bomb.yaml", "\n".join(lines) + "\nid: bomb\n")
    _, issues = check_persona_file(path)
    assert len(issues) == 1 and "too many values" in issues[0].message


@pytest.mark.parametrize(
    "text",
    [
        "  leading spaces\nline two",
        "trailing  \nspaces",
        "ends with newlines\n\n\n",
        "tab\there\nx",
        "# hash\n- dash\n: colon",
        "\nstarts with a newline",
        "windows\r\nline end",
        "line\u2028separator\nz",
        "emoji 😀\n«ёлки»",
    ],
)
def test_dump_keeps_any_text_exactly(tmp_path: Path, text: str) -> None:
    persona = load_persona_file(write_persona(tmp_path, "exact"))
    changed = persona.model_copy(update={"description": text, "extensions": {"k": [text]}})
    path = tmp_path / "exact.yaml"
    path.write_text(dump_persona_yaml(changed), encoding="utf-8")
    assert load_persona_file(path) == changed
