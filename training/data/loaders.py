"""Loaders for local chat datasets in the common formats, and for persona example dialogues.

Every loader returns the examples it could use and a count of the records it skipped, by
reason, so the manifest can say what happened to each source.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from companion.domain.personas import Persona
from training.config import SourceConfig, SourceKind
from training.data.licenses import check_record
from training.data.records import Example, InvalidConversationError, Role, Turn, clean_conversation


class SourceError(Exception):
    """A source file that cannot be read at all (missing, or not JSON Lines)."""


@dataclass
class LoadedSource:
    source: SourceConfig
    examples: list[Example] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    files: list[Path] = field(default_factory=list)
    records: int = 0


_SHAREGPT_ROLES = {
    "human": Role.USER,
    "user": Role.USER,
    "gpt": Role.ASSISTANT,
    "assistant": Role.ASSISTANT,
    "system": Role.SYSTEM,
}
_OPENAI_ROLES = {"system": Role.SYSTEM, "user": Role.USER, "assistant": Role.ASSISTANT}
_OASST_ROLES = {"prompter": Role.USER, "assistant": Role.ASSISTANT}
_PLACEHOLDER_RE = re.compile(r"\{\{\s*(user|char)\s*\}\}", re.IGNORECASE)


def source_files(path: Path) -> list[Path]:
    """A file, or every *.jsonl / *.jsonl.gz file in a directory, in a stable order."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted([*path.rglob("*.jsonl"), *path.rglob("*.jsonl.gz")])
        if files:
            return files
    raise SourceError(f"{path}: no such file, or a directory without *.jsonl files")


def _open_text(path: Path) -> IO[str]:
    # OpenAssistant publishes its exports gzipped; reading them as they are saves a step.
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _records(source: SourceConfig, loaded: LoadedSource) -> Iterator[Mapping[str, Any]]:
    loaded.files = source_files(source.path)
    for path in loaded.files:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise SourceError(f"{path}:{number}: not a JSON object per line") from None
                loaded.records += 1
                if not isinstance(record, dict):
                    loaded.skipped["not an object"] += 1
                    continue
                check_record(source, record)
                yield record


def _add(
    loaded: LoadedSource, turns: list[Turn], *, language: str = "und", persona_id: str | None = None
) -> None:
    try:
        messages = clean_conversation(turns)
    except InvalidConversationError as error:
        loaded.skipped[str(error)] += 1
        return
    loaded.examples.append(
        Example(
            messages=messages, source=loaded.source.name, language=language, persona_id=persona_id
        )
    )


def _turns(items: Any, role_key: str, text_key: str, roles: Mapping[str, Role]) -> list[Turn]:
    if not isinstance(items, list):
        raise InvalidConversationError("no message list")
    turns = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(text_key), str):
            raise InvalidConversationError("malformed message")
        role = roles.get(str(item.get(role_key, "")).lower())
        if role is None:
            raise InvalidConversationError(f"unknown role {item.get(role_key)!r}")
        turns.append(Turn(role=role, content=item[text_key]))
    return turns


def load_openai_messages(source: SourceConfig) -> LoadedSource:
    """JSONL with {"messages": [{"role": "system|user|assistant", "content": "..."}]}."""
    loaded = LoadedSource(source)
    for record in _records(source, loaded):
        try:
            turns = _turns(record.get("messages"), "role", "content", _OPENAI_ROLES)
        except InvalidConversationError as error:
            loaded.skipped[str(error)] += 1
            continue
        _add(loaded, turns)
    return loaded


def load_sharegpt(source: SourceConfig) -> LoadedSource:
    """JSONL with {"conversations": [{"from": "human|gpt|system", "value": "..."}]}."""
    loaded = LoadedSource(source)
    for record in _records(source, loaded):
        try:
            turns = _turns(record.get("conversations"), "from", "value", _SHAREGPT_ROLES)
        except InvalidConversationError as error:
            loaded.skipped[str(error)] += 1
            continue
        _add(loaded, turns)
    return loaded


def _usable(message: Mapping[str, Any]) -> bool:
    return (
        not message.get("deleted", False)
        and message.get("review_result", True) is not False
        and isinstance(message.get("text"), str)
        and message.get("role") in _OASST_ROLES
    )


def _rank(message: Mapping[str, Any]) -> float:
    rank = message.get("rank")
    return float(rank) if isinstance(rank, int | float) else float("inf")


def oasst_threads(root: Mapping[str, Any], *, best_only: bool) -> list[list[Mapping[str, Any]]]:
    """Every root->leaf path of an OpenAssistant message tree (deleted or rejected messages
    and their subtrees dropped); with `best_only`, only the best-ranked child at each branch
    (lowest `rank`; unranked count as worst; ties keep the first)."""
    if not _usable(root):
        return []
    threads: list[list[Mapping[str, Any]]] = []
    stack: list[list[Mapping[str, Any]]] = [[root]]
    while stack:
        path = stack.pop()
        children = [child for child in path[-1].get("replies") or [] if _usable(child)]
        if best_only and children:
            children = [min(children, key=_rank)]
        if not children:
            threads.append(path)
        # Reversed so that threads come out in the tree's own order.
        stack.extend([*path, child] for child in reversed(children))
    return threads


def load_oasst_trees(source: SourceConfig) -> LoadedSource:
    """OpenAssistant oasst1/oasst2 `*.trees.jsonl` exports: one message tree per line with
    {"message_tree_id", "prompt": {"text", "role": "prompter|assistant", "lang", "rank",
    "deleted", "review_result", "replies": [...]}}. Each root->leaf path becomes a thread."""
    loaded = LoadedSource(source)
    for record in _records(source, loaded):
        root = record.get("prompt")
        if not isinstance(root, dict):
            loaded.skipped["no prompt message"] += 1
            continue
        threads = oasst_threads(root, best_only=source.best_only)
        if not threads:
            loaded.skipped["prompt deleted or rejected"] += 1
        language = str(root.get("lang") or "und")
        for thread in threads:
            turns = [Turn(role=_OASST_ROLES[m["role"]], content=m["text"]) for m in thread]
            _add(loaded, turns, language=language)
    return loaded


def resolve_placeholders(text: str, *, user: str, char: str) -> str:
    """Character Card style {{user}} / {{char}} placeholders, case and spacing tolerant."""
    return _PLACEHOLDER_RE.sub(lambda m: user if m.group(1).lower() == "user" else char, text)


def pick_stable(options: list[str], key: str) -> str:
    """A choice that depends only on `key`, so rebuilding the dataset gives the same data."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return options[digest % len(options)]


def load_persona_dialogues(
    source: SourceConfig, personas: Mapping[str, Persona], user_names: Mapping[str, list[str]]
) -> LoadedSource:
    """Example dialogues of the given persona cards, placeholders resolved. `source.path` is
    the cards directory (the cards are loaded by the caller)."""
    loaded = LoadedSource(source)
    loaded.files = sorted(p for p in source.path.rglob("*") if p.suffix in {".yaml", ".yml"})
    for persona in personas.values():
        for index, dialogue in enumerate(persona.example_dialogues):
            loaded.records += 1
            language = dialogue.language
            names = user_names.get(language) or user_names.get("en") or ["friend"]
            user = pick_stable(names, f"{persona.id}:{index}")
            char = persona.display_name(language)
            turns: list[Turn] = []
            for turn in dialogue.turns:
                turns.append(
                    Turn(
                        role=Role.USER,
                        content=resolve_placeholders(turn.user, user=user, char=char),
                    )
                )
                turns.append(
                    Turn(
                        role=Role.ASSISTANT,
                        content=resolve_placeholders(turn.persona, user=user, char=char),
                    )
                )
            _add(loaded, turns, language=language, persona_id=persona.id)
    return loaded


Loader = Callable[[SourceConfig], LoadedSource]
FILE_LOADERS: dict[SourceKind, Loader] = {
    SourceKind.OPENAI_MESSAGES: load_openai_messages,
    SourceKind.SHAREGPT: load_sharegpt,
    SourceKind.OASST_TREES: load_oasst_trees,
}
