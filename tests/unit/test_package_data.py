"""Everything the package reads at run time ships in the wheel: prompts, locales, persona cards.

A file under companion/ that is not Python and that no `[tool.setuptools.package-data]` glob
names would be missing from an installed wheel, though every test run from the source tree
would find it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import companion
from companion.i18n import DEFAULT_LOCALES_DIR
from companion.personas.repository import packaged_library_dir
from companion.prompts import prompt_templates

PACKAGE = Path(companion.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def _data_files() -> set[Path]:
    return {
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }


def test_every_data_file_is_named_by_package_data() -> None:
    globs = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["companion"]
    shipped = {path for pattern in globs for path in PACKAGE.glob(pattern) if path.is_file()}
    missing = sorted(str(path.relative_to(PACKAGE)) for path in _data_files() - shipped)
    assert missing == []


def test_resources_are_found_inside_the_package() -> None:
    assert DEFAULT_LOCALES_DIR.parent == PACKAGE
    assert packaged_library_dir().parent == PACKAGE / "personas"
    template = prompt_templates().get_template("system/base.j2")
    assert template.filename is not None
    assert Path(template.filename).is_relative_to(PACKAGE / "prompts")
    # One environment for the process: every caller shares its cache and its rules.
    assert prompt_templates() is prompt_templates()
