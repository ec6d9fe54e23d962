"""Reading persona YAML files into `Persona` objects; errors point at file, field and line
(`companion.personas.issues`).

The YAML is checked for size and depth on its event stream before anything is built. Checks
that need the filesystem (the id matches the file name, gallery images exist and are images)
run after the schema validation.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from companion.domain.personas import Persona
from companion.personas.issues import PersonaIssue, duplicate_issue, line_of, validation_issues

PERSONA_SUFFIXES = (".yaml", ".yml")
# A card is a few kilobytes of text; anything far bigger is a mistake (or an attack on memory).
MAX_FILE_BYTES = 512 * 1024
GALLERY_FORMATS = {"PNG", "JPEG", "WEBP"}
# Values in one card after YAML aliases and merge keys are expanded; a real card has a few
# hundred. Checked on the event stream, before anything is built (see `_check_structure`).
MAX_VALUES = 50_000
# Nesting of mappings and lists; a real card nests four or five levels (an imported Character
# Card's extensions a few more). The composer, the constructor and pydantic recurse per level.
MAX_DEPTH = 64


class PersonaFileError(Exception):
    """A persona file that cannot be served; ``issues`` says every problem found in it."""

    def __init__(self, issues: Sequence[PersonaIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def persona_files(directory: Path) -> list[Path]:
    """The persona files directly inside ``directory`` (sub-folders hold images), sorted."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in PERSONA_SUFFIXES and path.is_file() and not path.name.startswith(".")
    )


def load_persona_file(path: Path) -> Persona:
    """Parse and validate one file; raise `PersonaFileError` listing every problem."""
    persona, issues = check_persona_file(path)
    if persona is None or issues:
        raise PersonaFileError(issues)
    return persona


def check_persona_file(path: Path) -> tuple[Persona | None, list[PersonaIssue]]:
    """Parse and validate one file; the persona is None when it cannot be served."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [
                PersonaIssue(path, "", None, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
            ]
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [PersonaIssue(path, "", None, f"not UTF-8 text ({exc.reason})")]
    except OSError as exc:
        return None, [PersonaIssue(path, "", None, f"cannot read file: {exc.strerror or exc}")]
    return check_persona_text(text, path)


def check_persona_text(text: str, path: Path) -> tuple[Persona | None, list[PersonaIssue]]:
    """Validate YAML text as if it were the file ``path`` (images resolve next to it).

    Never raises for any text: hostile input (deep nesting, alias or merge-key bombs) is an
    issue with a line like any other mistake, found in time and memory linear in the text."""
    try:
        structure_issue = _check_structure(text, path)
        if structure_issue is not None:
            return None, [structure_issue]
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [PersonaIssue(path, "", line, f"YAML syntax error: {problem}")]
    except YAMLError as exc:
        return None, [PersonaIssue(path, "", None, f"YAML error: {exc}")]
    except (ValueError, LookupError, AttributeError, TypeError, RecursionError) as exc:
        # ruamel's constructors fail on some odd input with bare errors and no mark; the
        # file is still just a broken file, not a reason to stop loading the others.
        return None, [PersonaIssue(path, "", None, f"cannot read YAML ({type(exc).__name__})")]
    if document is None:
        return None, [PersonaIssue(path, "", None, "the file is empty")]
    if not isinstance(document, CommentedMap):
        return None, [PersonaIssue(path, "", 1, "a persona file must be a mapping of field: value")]
    try:
        plain = _plain(document)
    except (_TooLargeError, RecursionError):
        return None, [
            PersonaIssue(path, "", None, f"too many values (over {MAX_VALUES}, aliases expanded)")
        ]
    try:
        persona = Persona.model_validate(plain)
    except ValidationError as exc:
        return None, validation_issues(exc, document, path)
    issues = list(_file_checks(persona, document, path))
    return (None if issues else persona), issues


def validate_path(path: Path) -> tuple[list[Persona], list[PersonaIssue]]:
    """Validate one file or every persona file in a directory, including duplicate ids."""
    files = persona_files(path) if path.is_dir() else [path]
    if path.is_dir() and not files:
        return [], [PersonaIssue(path, "", None, "no persona files (*.yaml) in this directory")]
    if not path.exists():
        return [], [PersonaIssue(path, "", None, "no such file or directory")]
    personas: list[Persona] = []
    issues: list[PersonaIssue] = []
    seen: dict[str, Path] = {}
    for file in files:
        persona, file_issues = check_persona_file(file)
        issues.extend(file_issues)
        if persona is None:
            continue
        if persona.id in seen:
            issues.append(duplicate_issue(file, persona.id, seen[persona.id]))
            continue
        seen[persona.id] = file
        personas.append(persona)
    return personas, issues


def dump_persona_yaml(persona: Persona) -> str:
    """A persona as a YAML file a person can edit: schema field order, long texts as blocks."""
    data = persona.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("module", persona.module.value)
    yaml = YAML(typ="rt")
    yaml.width = 100
    yaml.allow_unicode = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    yaml.dump(_block_strings(data), stream)
    return stream.getvalue()


# --- internals ---------------------------------------------------------------------------------


class _TooLargeError(Exception):
    pass


def _check_structure(text: str, path: Path) -> PersonaIssue | None:
    """Depth and size of the document as YAML events, before ruamel builds anything.

    ruamel's composer and constructor recurse once per nesting level (a few thousand brackets
    raise RecursionError), and an alias or a ``<<:`` merge key copies the node it names, so a
    chain of anchors each merging the one before costs memory quadratic in the file size. The
    parser itself is iterative: counting on its events, with every alias worth the expanded
    size of its anchor, is linear in the text and stops at the first line over a limit.
    """
    sizes: dict[str, int] = {}  # anchor -> values it expands to; -1 while its node is open
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, running total when it opened)
    total = 0
    for event in YAML(typ="rt").parse(text):
        kind = type(event).__name__
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if getattr(event, "tag", None) is not None:
            # A persona is plain text, numbers and lists; tags only reach constructors that
            # fail on bad values (``!!int x``, ``!!timestamp 2001-13-45``) with bare errors.
            return PersonaIssue(path, "", line, f"YAML tags like {event.tag} are not allowed")
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            if len(open_nodes) >= MAX_DEPTH:
                return PersonaIssue(
                    path, "", line, f"nested too deeply (over {MAX_DEPTH} levels of lists/maps)"
                )
            total += 1
            if event.anchor is not None:
                sizes[event.anchor] = -1
            open_nodes.append((event.anchor, total))
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            anchor, opened_at = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = total - opened_at + 1
        elif kind == "ScalarEvent":
            total += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif kind == "AliasEvent":
            size = sizes.get(event.anchor, 1)  # an unknown anchor: the loader reports it
            if size < 0:
                return PersonaIssue(
                    path, "", line, f"alias *{event.anchor} refers to a node that contains it"
                )
            total += size
        if total > MAX_VALUES:
            return PersonaIssue(
                path, "", line, f"too many values (over {MAX_VALUES} with aliases expanded)"
            )
    return None


def _plain(node: Any, budget: list[int] | None = None) -> Any:
    """ruamel's commented containers and scalar subclasses as plain Python values.

    YAML aliases share one node; copying them could blow up ("billion laughs"), so the number
    of values copied is capped.
    """
    budget = budget if budget is not None else [MAX_VALUES]
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLargeError
    if isinstance(node, Mapping):
        return {str(key): _plain(value, budget) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item, budget) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _block_strings(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _block_strings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_block_strings(item) for item in node]
    if isinstance(node, str) and "\n" in node and _block_safe(node):
        return LiteralScalarString(node)
    return node  # ruamel quotes and escapes what a literal block cannot hold exactly


def _block_safe(text: str) -> bool:
    """Whether a literal block (``|``) keeps this text exactly."""
    if any(char in text for char in "\r\x85\u2028\u2029\ufeff"):
        return False
    if any(not char.isprintable() and char not in "\n\t" for char in text):
        return False
    return all(line == line.rstrip(" \t") for line in text.split("\n"))


def _file_checks(persona: Persona, document: CommentedMap, path: Path) -> Iterable[PersonaIssue]:
    if persona.id != path.stem:
        yield PersonaIssue(
            path,
            "id",
            line_of(document, "id"),
            f"id {persona.id!r} must equal the file name {path.stem!r} "
            f"(rename the file to {persona.id}{path.suffix} or change the id)",
        )
    gallery_node = document.get("gallery")
    base = path.parent.resolve()
    for index, image in enumerate(persona.gallery):
        item = gallery_node[index] if isinstance(gallery_node, CommentedSeq) else None
        line = line_of(item, "file") if item is not None else None
        field = f"gallery[{index}].file"
        problem = _gallery_problem(base, image.file)
        if problem:
            yield PersonaIssue(path, field, line, problem)
        if image.adult and not persona.adult:
            yield PersonaIssue(
                path,
                f"gallery[{index}].adult",
                line_of(item, "adult") if item is not None else line,
                "adult images are allowed only in personas with adult: true",
            )


def _gallery_problem(base: Path, file: str) -> str | None:
    relative = Path(file)
    if relative.is_absolute():
        return f"use a path relative to the persona file, not {file}"
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        return f"image must be inside the persona directory: {file}"
    if not target.is_file():
        return f"image not found: {file}"
    try:
        with Image.open(target) as image:
            image_format = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        return f"not a readable image: {file} ({exc})"
    if image_format not in GALLERY_FORMATS:
        return f"{file} is {image_format}; use PNG, JPEG or WEBP"
    return None
