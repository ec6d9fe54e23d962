"""Problems in persona files, and where they are: a pydantic error becomes file, field and line.

ruamel.yaml's round-trip loader keeps the line of every key and list item, so a pydantic error
location such as ``("gallery", 2, "caption", "en")`` can be reported as
``kylie.yaml:31 gallery[2].caption.en: ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from companion.domain.personas import ExampleDialogue, ExampleTurn, GalleryImage, Persona, Sampling

_KNOWN_FIELDS = sorted(
    {
        name
        for model in (Persona, GalleryImage, ExampleDialogue, ExampleTurn, Sampling)
        for name in model.model_fields
    }
)


@dataclass(frozen=True, slots=True)
class PersonaIssue:
    """One problem in one persona file; ``str()`` is a single line for terminals and logs."""

    file: Path
    field_path: str  # like "gallery[2].caption.en"; "" for the file as a whole
    line: int | None  # 1-based
    message: str

    def __str__(self) -> str:
        where = f"{self.file.name}:{self.line}" if self.line else self.file.name
        if self.field_path:
            return f"{where} {self.field_path}: {self.message}"
        return f"{where}: {self.message}"

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (str(self.file), self.line or 0, self.field_path)


def duplicate_issue(file: Path, persona_id: str, first: Path) -> PersonaIssue:
    return PersonaIssue(
        file, "id", None, f"duplicate id {persona_id!r}: already used by {first.name}"
    )


def line_of(node: Any, key: str | int) -> int | None:
    try:
        if isinstance(node, CommentedMap):
            return int(node.lc.key(key)[0]) + 1
        if isinstance(node, CommentedSeq):
            return int(node.lc.item(key)[0]) + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return None


def _node_line(node: Any) -> int | None:
    line = getattr(getattr(node, "lc", None), "line", None)
    return line + 1 if isinstance(line, int) else None


def _format_path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def validation_issues(
    exc: ValidationError, document: CommentedMap, path: Path
) -> list[PersonaIssue]:
    issues: dict[tuple[str, str], PersonaIssue] = {}
    for error in exc.errors():
        located = _locate(error["loc"], document)
        if located is None:
            continue  # a branch of a union that does not apply to the value written
        parts, line, node_value = located
        message = _message(error, node_value, parts)
        field_path = _format_path(parts)
        if not parts:
            field_path, line = _root_error_field(message, document)
        issue = PersonaIssue(path, field_path, line, message)
        issues.setdefault((field_path, message), issue)
    return sorted(issues.values(), key=lambda issue: issue.sort_key)


def _locate(
    loc: tuple[str | int, ...], document: CommentedMap
) -> tuple[list[str | int], int | None, Any] | None:
    """Map a pydantic location onto the YAML tree: the clean path, its line, the value there."""
    node: Any = document
    parts: list[str | int] = []
    line: int | None = 1
    for index, element in enumerate(loc):
        last = index == len(loc) - 1
        in_mapping = isinstance(node, Mapping) and isinstance(element, str) and element in node
        in_list = isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node)
        if in_mapping or in_list:
            line = line_of(node, element) or line
            node = node[element]
            parts.append(element)
        elif isinstance(element, str) and _is_union_tag(element):
            # pydantic names the union member it tried (LocalizedText: "str" or "dict[str,str]");
            # report only the member that matches what the author wrote.
            wrote_mapping = isinstance(node, Mapping)
            if wrote_mapping != element.startswith("dict"):
                return None
        elif last:
            parts.append(element)  # a missing field: point at its parent mapping
            line = _node_line(node) or line
            node = None
        else:
            return None
    return parts, line, node


def _is_union_tag(element: str) -> bool:
    return element in {"str", "int", "float", "bool", "list", "dict"} or "[" in element


def _message(error: Any, value: Any, parts: list[str | int]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        name = parts[-1] if parts else ""
        close = difflib.get_close_matches(str(name), _KNOWN_FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field{hint}"
    localized = bool(parts) and parts[-1] in {"name", "preview", "caption"}
    if kind in {"string_type", "dict_type"} and localized and not isinstance(value, (str, dict)):
        return "must be text, or a mapping like {ru: ..., en: ...}"
    if kind == "string_type" and isinstance(value, Mapping):
        return "expected text but found a mapping (put text that contains ': ' in quotes)"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _root_error_field(message: str, document: CommentedMap) -> tuple[str, int | None]:
    """Model-level checks have no location; point at the field their message is about."""
    for field in ("greetings", "module", "languages"):
        if message.startswith(field) or f"{field} " in message.split(" must")[0]:
            return field, line_of(document, field) or 1
    if message.startswith("partner"):
        return "module", line_of(document, "module") or 1
    return "", 1
