"""Hostile persona files: each is a `file:line` issue, found in bounded time and memory, and one
of them never keeps the other cards (or the bot) from loading."""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from companion.cli.personas import app
from companion.personas.loader import MAX_DEPTH, check_persona_file, check_persona_text
from companion.personas.repository import PersonaRepository
from tests.unit.personas.helpers import write_persona

# CPU time of this thread (the check runs in it), so other jobs on the shared cores do not
# count; before the fix the merge bomb below took seconds and hundreds of megabytes, and
# nesting raised RecursionError.
TIME_LIMIT_S = 3.0
MEMORY_LIMIT_BYTES = 16 * 1024 * 1024


def _nested_brackets(depth: int) -> str:
    return "id: deep\nname: en\ndescription: " + "[" * depth + "]" * depth + "\n"


def _nested_maps(depth: int) -> str:
    return "id: deep\npersonality: " + "{a: " * depth + "1" + "}" * depth + "\n"


def _nested_blocks(depth: int) -> str:
    lines = ["id: deep", "extensions:"]
    lines += [f"{'  ' * level}k{level}:" for level in range(1, depth + 1)]
    return "\n".join(lines) + " leaf\n"


def _merge_chain(levels: int) -> str:
    """Each anchor merges the one before: n lines expand to n²/2 keys."""
    lines = ["id: bomb", "a0: &a0 {k0: 1}"]
    lines += [f"a{i}: &a{i} {{<<: *a{i - 1}, k{i}: 1}}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _merge_fan(levels: int) -> str:
    """Each anchor merges the list of all before it, in block style."""
    lines = ["id: bomb", "a0: &a0", "  k0: 1"]
    for i in range(1, levels):
        merged = ", ".join(f"*a{j}" for j in range(max(0, i - 8), i))
        lines += [f"a{i}: &a{i}", f"  <<: [{merged}]", f"  k{i}: 1"]
    return "\n".join(lines) + "\n"


def _laughs(levels: int) -> str:
    lines = ["id: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _measured(path: Path) -> tuple[list[str], float, int]:
    tracemalloc.start()
    started = time.thread_time()
    try:
        _, issues = check_persona_file(path)
        elapsed = time.thread_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return [str(issue) for issue in issues], elapsed, peak


HOSTILE = {
    "brackets-1000": (_nested_brackets(1000), 3, "nested too deeply"),
    "brackets-100k": (_nested_brackets(100_000), 3, "nested too deeply"),
    "maps-1000": (_nested_maps(1000), 2, "nested too deeply"),
    "blocks-200": (_nested_blocks(200), 2 + MAX_DEPTH, "nested too deeply"),
    "merge-chain": (_merge_chain(1500), None, "too many values"),
    "merge-fan": (_merge_fan(3000), None, "too many values"),
    "laughs": (_laughs(9), None, "too many values"),
    "self-alias": ("id: loop\nextensions: &a [1, *a]\n", 2, "refers to a node that contains it"),
    "tag-int": ("id: x\nsampling:\n  max_tokens: !!int many\n", 3, "tags"),
    "tag-date": ("id: x\ncreated: !!timestamp 2001-13-45\n", 2, "tags"),
    "tag-python": ("id: x\nname: !!python/object:os.system echo\n", 2, "tags"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_one_issue_with_a_line_in_bounded_time_and_memory(
    tmp_path: Path, name: str
) -> None:
    text, line, expected = HOSTILE[name]
    assert len(text.encode()) < 512 * 1024  # all of these pass the size guard
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    issues, elapsed, peak = _measured(path)
    assert len(issues) == 1, issues
    assert expected in issues[0]
    assert issues[0].startswith(f"{name}.yaml:"), issues  # file:line, not just the file
    if line is not None:
        assert issues[0].startswith(f"{name}.yaml:{line}:"), issues
    assert elapsed < TIME_LIMIT_S, f"{name}: {elapsed:.2f}s"
    assert peak < MEMORY_LIMIT_BYTES, f"{name}: {peak / 1e6:.1f} MB"


def test_merge_bomb_of_250_kb_is_refused_at_once(tmp_path: Path) -> None:
    """The reported case: a 250 KB chain of merges wanted gigabytes; now it stops at its line."""
    text = _merge_chain(8000)
    assert 200_000 < len(text) < 512 * 1024
    path = tmp_path / "big.yaml"
    path.write_text(text, encoding="utf-8")
    issues, elapsed, peak = _measured(path)
    assert len(issues) == 1 and "too many values" in issues[0]
    assert elapsed < TIME_LIMIT_S and peak < MEMORY_LIMIT_BYTES


def test_normal_merge_keys_and_aliases_still_work(tmp_path: Path) -> None:
    text = write_persona(tmp_path, "merged").read_text(encoding="utf-8")
    text += (
        "extensions:\n  base: &base {tone: warm, pace: slow}\n  evening: {<<: *base, pace: calm}\n"
    )
    text += "  again: *base\n"
    (tmp_path / "merged.yaml").write_text(text, encoding="utf-8")
    persona, issues = check_persona_file(tmp_path / "merged.yaml")
    assert issues == [] and persona is not None
    assert persona.extensions["evening"] == {"tone": "warm", "pace": "calm"}
    assert persona.extensions["again"] == {"tone": "warm", "pace": "slow"}


def test_random_hostile_text_never_raises() -> None:
    """Seeded garbage made of YAML's sharp edges: always issues, never an exception."""
    atoms = [
        "id: x\n", "name: ", "[", "]", "{", "}", ": ", ", ", "- ", "&a ", "*a ", "&b ", "*b",
        "<<: ", "<<: [*a, *b]\n", "!!int ", "!!float ", "!!timestamp ", "!!binary ", "!!set ",
        "!!python/object:os.system ", "!custom ", "2001-13-45", "1e999", "0x", "0o9", "'", '"',
        "\\", "\n", "  ", "? ", "|", ">", "#", "%YAML 1.1\n", "---\n", "...\n", "~", "\t", "\x00",
        "é", "😀", "\u2028", "\ufeff", "=", "!", "12:30:60", "!!bool maybe",
    ]  # fmt: skip
    rnd = random.Random(1313)
    path = Path("/nonexistent/fuzz.yaml")
    deadline = time.monotonic() + 20
    for _ in range(3000):
        text = "".join(rnd.choice(atoms) for _ in range(rnd.randint(1, 60)))
        persona, issues = check_persona_text(text, path)
        assert persona is None or issues == []
        if time.monotonic() > deadline:
            break


@pytest.mark.parametrize("bad", ["brackets-1000", "merge-chain", "tag-date"])
def test_one_hostile_card_does_not_stop_the_library(tmp_path: Path, bad: str) -> None:
    write_persona(tmp_path, "good")
    (tmp_path / "hostile.yaml").write_text(HOSTILE[bad][0], encoding="utf-8")
    repository = PersonaRepository(tmp_path)
    event = repository.load_all()
    assert [p.id for p in repository.all()] == ["good"]
    assert [issue.file.name for issue in event.issues] == ["hostile.yaml"]
    assert all(issue.line for issue in repository.errors)


def test_validate_reports_hostile_files_with_their_lines(tmp_path: Path) -> None:
    write_persona(tmp_path, "good")
    (tmp_path / "deep.yaml").write_text(_nested_brackets(1000), encoding="utf-8")
    (tmp_path / "bomb.yaml").write_text(_merge_chain(1500), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = sorted(line for line in result.stdout.splitlines() if line.strip())
    assert lines[0].startswith("bomb.yaml:") and "too many values" in lines[0]
    assert lines[1].startswith("deep.yaml:3: nested too deeply")
    assert "1 persona(s) valid" in result.stderr
