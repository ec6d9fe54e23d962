"""Joining the packaged Whisper model: once, atomically, verified, safe across processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path

import pytest

from companion.speech.model import (
    ModelAssemblyError,
    PackagedModel,
    SourceFile,
    assemble,
    packaged_whisper_base,
    resolve_model,
)


def _source(path: Path, content: bytes, *, sha: str | None = "auto") -> SourceFile:
    path.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest() if sha == "auto" else sha
    return SourceFile(path=path, size=len(content), sha256=digest)


@pytest.fixture
def fake_model(tmp_path: Path) -> PackagedModel:
    src = tmp_path / "src"
    src.mkdir()
    parts = [
        _source(src / "model.bin.part1", os.urandom(300_000)),
        _source(src / "model.bin.part2", os.urandom(200_001)),
    ]
    side = [
        _source(src / "config.json", b'{"x": 1}'),
        _source(src / "tokenizer.json", b"{}"),
        _source(src / "vocabulary.txt", b"a\nb\n"),
    ]
    return PackagedModel(name="fake-1.0", parts=parts, side_files=side)


def test_joins_parts_in_order_with_side_files(fake_model: PackagedModel, tmp_path: Path) -> None:
    target = assemble(fake_model, tmp_path / "cache")
    joined = (target / "model.bin").read_bytes()
    assert joined == b"".join(p.path.read_bytes() for p in fake_model.parts)
    for side in fake_model.side_files:
        assert (target / side.path.name).read_bytes() == side.path.read_bytes()
    assert not [p for p in target.iterdir() if p.name.startswith(".model.bin.")]  # no temp left


def test_second_call_reuses_the_joined_file(fake_model: PackagedModel, tmp_path: Path) -> None:
    target = assemble(fake_model, tmp_path / "cache")
    before = (target / "model.bin").stat()
    again = assemble(fake_model, tmp_path / "cache")
    after = (again / "model.bin").stat()
    assert again == target
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_a_damaged_copy_is_rebuilt(fake_model: PackagedModel, tmp_path: Path) -> None:
    target = assemble(fake_model, tmp_path / "cache")
    (target / "model.bin").write_bytes(b"truncated")
    assemble(fake_model, tmp_path / "cache")
    assert (target / "model.bin").stat().st_size == fake_model.total_size


def test_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    good = _source(src / "model.bin.part1", b"a" * 1000)
    bad = _source(src / "model.bin.part2", b"b" * 1000, sha=hashlib.sha256(b"other").hexdigest())
    model = PackagedModel(name="bad", parts=[good, bad], side_files=[])
    with pytest.raises(ModelAssemblyError, match="sha256"):
        assemble(model, tmp_path / "cache")
    target = tmp_path / "cache" / "bad"
    assert not (target / "model.bin").exists()
    assert [p.name for p in target.iterdir()] == [".lock"]


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    part = src / "model.bin.part1"
    part.write_bytes(b"x" * 10)
    model = PackagedModel(
        name="short", parts=[SourceFile(path=part, size=11, sha256=None)], side_files=[]
    )
    with pytest.raises(ModelAssemblyError, match="10 bytes"):
        assemble(model, tmp_path / "cache")
    assert not (tmp_path / "cache" / "short" / "model.bin").exists()


def _assemble_in_child(
    model: PackagedModel, cache: Path, queue: multiprocessing.Queue[str]
) -> None:
    target = assemble(model, cache)
    model_bin = target / "model.bin"
    digest = hashlib.sha256(model_bin.read_bytes()).hexdigest()
    queue.put(f"{digest}:{model_bin.stat().st_ino}")


def test_concurrent_processes_build_one_correct_file(
    fake_model: PackagedModel, tmp_path: Path
) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[str] = ctx.Queue()
    cache = tmp_path / "cache"
    procs = [
        ctx.Process(target=_assemble_in_child, args=(fake_model, cache, queue)) for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    expected = hashlib.sha256(b"".join(p.path.read_bytes() for p in fake_model.parts)).hexdigest()
    inode = (cache / "fake-1.0" / "model.bin").stat().st_ino
    # Same content everywhere, and the same inode: the file was written once, never replaced.
    assert [queue.get(timeout=5) for _ in procs] == [f"{expected}:{inode}"] * 4
    leftovers = [p.name for p in (cache / "fake-1.0").iterdir() if p.name.startswith(".model.bin")]
    assert leftovers == []


def test_installed_packages_describe_the_whole_model() -> None:
    model = packaged_whisper_base()
    assert [p.path.name for p in model.parts] == ["model.bin.part1", "model.bin.part2"]
    assert all(p.path.is_file() and p.sha256 for p in model.parts)
    assert model.total_size == sum(p.path.stat().st_size for p in model.parts)
    assert {f.path.name for f in model.side_files} == {
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }


def test_resolve_passes_names_and_directories_through(tmp_path: Path) -> None:
    assert resolve_model("small", tmp_path) == "small"
    assert resolve_model("large-v3-turbo", tmp_path) == "large-v3-turbo"
    assert resolve_model(str(tmp_path), tmp_path / "cache") == str(tmp_path)
    assert not (tmp_path / "cache").exists()  # nothing joined for a non-packaged model
