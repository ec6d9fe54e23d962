"""Database backups over the MongoDB driver: dump to an archive, restore from it, keep N days.

`mongodump` is not available everywhere the bot runs (no MongoDB tools in Debian, none next to
the embedded SecantusDB), so the archive is written by the driver itself. Its layout follows
mongodump's directory format inside a gzip'd tar, so `mongorestore` can read the collections
too (`tar xzf` then `mongorestore --dir companion-<stamp>/<database>`):

    companion-20260105T120000Z.tar.gz
      manifest.json                 format, database, time, collections with counts
      <database>/<coll>.bson        the documents, concatenated BSON (mongodump's .bson)
      <database>/<coll>.metadata.json   indexes (mongodump's metadata file)

Documents are copied as stored: encrypted fields stay encrypted, so a restore needs the same
encryption key (or it in `previous_encryption_keys`). An archive is written under a temporary
name and renamed, so a crash never leaves a file that looks complete but is not. Collections
are read one after another, not in one snapshot: run it when writes are quiet, or accept that
a document written during the dump may be in one collection and not in another.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger(__name__)

FORMAT = "companion-backup/1"
_NAME = re.compile(r"^companion-(\d{8}T\d{6}Z)\.tar\.gz$")
_STAMP = "%Y%m%dT%H%M%SZ"
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    created_at: datetime
    counts: dict[str, int]


def archive_name(created_at: datetime) -> str:
    return f"companion-{created_at.astimezone(UTC).strftime(_STAMP)}.tar.gz"


def archive_time(path: Path) -> datetime | None:
    """When an archive was made, from its name (file times change when copied)."""
    match = _NAME.match(path.name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    tar.addfile(info, io.BytesIO(data))


async def dump(
    db: AsyncDatabase[Any], directory: Path, *, now: datetime | None = None
) -> BackupInfo:
    """Write every collection of `db` into a new archive in `directory`."""
    created_at = now or datetime.now(UTC)
    # File writes block: this runs in the backup CLI's own process, where nothing else waits.
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    final = directory / archive_name(created_at)
    partial = directory / f".{final.name}.part"
    counts: dict[str, int] = {}
    names = sorted(n for n in await db.list_collection_names() if not n.startswith("system."))
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for name in names:
                collection = db.get_collection(name)
                # Raw BSON bytes: nothing is decoded and re-encoded, so types survive exactly.
                raw = collection.with_options(
                    codec_options=bson.CodecOptions(document_class=RawBSONDocument)
                )
                body = bytearray()
                count = 0
                async for document in raw.find({}, batch_size=_BATCH):
                    body += document.raw
                    count += 1
                counts[name] = count
                _add(tar, f"{db.name}/{name}.bson", bytes(body), created_at.timestamp())
                indexes = [dict(index) async for index in await collection.list_indexes()]
                metadata = {"indexes": indexes, "collectionName": name}
                _add(
                    tar,
                    f"{db.name}/{name}.metadata.json",
                    json.dumps(metadata, default=str).encode(),
                    created_at.timestamp(),
                )
            manifest = {
                "format": FORMAT,
                "database": db.name,
                "created_at": created_at.isoformat(),
                "collections": counts,
            }
            _add(tar, "manifest.json", json.dumps(manifest).encode(), created_at.timestamp())
        partial.rename(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log.info(
        "backup %s: %d collections, %d documents", final.name, len(counts), sum(counts.values())
    )
    return BackupInfo(final, created_at, counts)


class BackupFormatError(ValueError):
    """The file is not an archive this tool wrote (or it is damaged)."""


async def restore(db: AsyncDatabase[Any], archive: Path) -> dict[str, int]:
    """Replace the collections in the archive with its contents; other collections stay.

    The whole archive is read and checked first: a damaged or truncated file is refused before
    anything is dropped. Then each collection is dropped, its indexes made again and its
    documents inserted."""
    manifest, collections = _check(archive)
    counts: dict[str, int] = {}
    for name, (body, metadata) in collections.items():
        documents = bson.decode_all(body)
        collection = db.get_collection(name)
        await collection.drop()
        await _create_indexes(db, name, metadata.get("indexes", []))
        for start in range(0, len(documents), _BATCH):
            await collection.insert_many(documents[start : start + _BATCH], ordered=False)
        counts[name] = len(documents)
    log.info("restored %s (%s): %d collections", archive.name, manifest["created_at"], len(counts))
    return counts


def _check(archive: Path) -> tuple[dict[str, Any], dict[str, tuple[bytes, dict[str, Any]]]]:
    """The manifest and each collection's BSON and metadata, all read and decoded once."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest = json.loads(_read(tar, "manifest.json"))
            if manifest.get("format") != FORMAT:
                raise BackupFormatError(f"{archive.name}: not a {FORMAT} archive")
            source = manifest["database"]
            collections: dict[str, tuple[bytes, dict[str, Any]]] = {}
            for name, count in manifest["collections"].items():
                body = _read(tar, f"{source}/{name}.bson")
                if len(bson.decode_all(body)) != count:
                    raise BackupFormatError(f"{archive.name}: {name} is incomplete")
                metadata = json.loads(_read(tar, f"{source}/{name}.metadata.json"))
                collections[name] = (body, metadata)
    except (tarfile.TarError, KeyError, ValueError, EOFError, OSError, bson.InvalidBSON) as exc:
        # json.JSONDecodeError is a ValueError; zlib.error an OSError
        # here (gzip wraps it), EOFError a truncated gzip stream.
        if isinstance(exc, BackupFormatError):
            raise
        raise BackupFormatError(f"{archive.name}: damaged or not a backup ({exc})") from exc
    return manifest, collections


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise KeyError(name)
    return member.read()


async def _create_indexes(db: AsyncDatabase[Any], name: str, indexes: list[dict[str, Any]]) -> None:
    await db.create_collection(name)
    for index in indexes:
        if index.get("name") == "_id_":
            continue
        keys = list(index["key"].items())
        options = {k: v for k, v in index.items() if k not in {"key", "v", "ns"}}
        await db.get_collection(name).create_index(keys, **options)


def prune(directory: Path, *, keep_days: float, now: datetime | None = None) -> list[Path]:
    """Delete archives older than `keep_days` (by the time in their name); the newest archive
    is always kept, so a backup job that stopped working never deletes the last good copy."""
    current = now or datetime.now(UTC)
    dated = sorted(
        (
            (stamp, path)
            for path in directory.glob("companion-*.tar.gz")
            if (stamp := archive_time(path)) is not None
        ),
    )
    removed: list[Path] = []
    for stamp, path in dated[:-1]:
        if current - stamp > timedelta(days=keep_days):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def latest(directory: Path) -> Path | None:
    dated = sorted(
        (stamp, path)
        for path in directory.glob("companion-*.tar.gz")
        if (stamp := archive_time(path)) is not None
    )
    return dated[-1][1] if dated else None
