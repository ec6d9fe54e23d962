"""Backups that restore: dump, wipe, restore, and the person's conversation, memory and
subscription are back, byte for byte (encrypted fields included); retention keeps 3 days."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tarfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from companion.storage import backup
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher
from companion.storage.user_data import UserDataService
from tests.integration.storage.test_storage_user_data import ANNA, OTHER, _seed

Db = AsyncDatabase[Any]
COMPANION = str(Path(sys.executable).parent / "companion")


async def _seeded(db: Db, cipher: AesGcmCipher, *users: tuple[int, str]) -> None:
    for user_id, secret in users:
        await _seed(db, cipher, user_id, secret)
    # Conversations' last_seq is written behind (companion.storage.touches): wait for it, so
    # the state compared below is the final one.
    deadline = asyncio.get_running_loop().time() + 30
    while any(t.get_name() == "conversation-touches" for t in asyncio.all_tasks()):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


async def _snapshot(db: Db) -> dict[str, Any]:
    """Every document and index name of every collection, for an exact comparison."""
    names = sorted(await db.list_collection_names())
    state: dict[str, Any] = {}
    for name in names:
        docs = [doc async for doc in db[name].find({}).sort("_id", 1)]
        indexes = sorted([index["name"] async for index in await db[name].list_indexes()])
        state[name] = (docs, indexes)
    return state


async def test_dump_wipe_restore_brings_everything_back(
    db: Db, cipher: AesGcmCipher, tmp_path: Path
) -> None:
    await _seeded(db, cipher, (ANNA, "swordfish"), (OTHER, "other-secret"))
    before = await _snapshot(db)
    exported = await UserDataService(db, cipher).export(ANNA)

    info = await backup.dump(db, tmp_path)
    assert info.counts[c.MESSAGES] == 6
    for name in await db.list_collection_names():
        await db.drop_collection(name)
    assert await db[c.MESSAGES].count_documents({}) == 0

    restored = await backup.restore(db, info.path)

    assert restored == info.counts
    assert await _snapshot(db) == before
    again = await UserDataService(db, cipher).export(ANNA)
    assert {**again, "exported_at": None} == {**exported, "exported_at": None}
    texts = [m["text"] for conv in again["conversations"] for m in conv["messages"]]
    assert "my secret is swordfish" in texts
    assert any("Kazan" in fact["text"] for fact in again["facts"])
    assert again["subscription"]["status"] == "active"


async def test_the_archive_is_mongodump_layout(
    db: Db, cipher: AesGcmCipher, tmp_path: Path
) -> None:
    await _seed(db, cipher, ANNA, "swordfish")
    info = await backup.dump(db, tmp_path)
    with tarfile.open(info.path) as tar:
        raw = tar.extractfile(f"{db.name}/{c.SUBSCRIPTIONS}.bson")
        assert raw is not None
        (subscription,) = bson.decode_all(raw.read())
    assert subscription["user_id"] == ANNA
    # No half-written file is left behind next to the archive.
    assert [p.name for p in tmp_path.iterdir()] == [info.path.name]


async def test_a_damaged_archive_is_refused_and_the_database_is_untouched(
    db: Db, cipher: AesGcmCipher, tmp_path: Path
) -> None:
    await _seeded(db, cipher, (ANNA, "swordfish"))
    info = await backup.dump(db, tmp_path)
    damaged = tmp_path / "companion-20260101T000000Z.tar.gz"
    damaged.write_bytes(info.path.read_bytes()[:200])
    before = await _snapshot(db)
    with pytest.raises(backup.BackupFormatError):
        await backup.restore(db, damaged)
    assert await _snapshot(db) == before


def test_retention_keeps_three_days_and_always_the_newest(tmp_path: Path) -> None:
    now = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    ages_h = [1, 30, 71, 73, 100, 200]
    for hours in ages_h:
        (tmp_path / backup.archive_name(now - timedelta(hours=hours))).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a backup")

    removed = backup.prune(tmp_path, keep_days=3, now=now)

    assert sorted(p.name for p in removed) == sorted(
        backup.archive_name(now - timedelta(hours=h)) for h in (73, 100, 200)
    )
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [backup.archive_name(now - timedelta(hours=h)) for h in (1, 30, 71)] + ["notes.txt"]
    )
    # A job that stopped a week ago: its last archive is old, but it is the only good copy.
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    last = lonely / backup.archive_name(now - timedelta(days=7))
    last.write_bytes(b"x")
    assert backup.prune(lonely, keep_days=3, now=now) == []
    assert last.exists()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMPANION, "db", *args],
        env={**os.environ, **env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_the_cli_backs_up_and_restores_a_server(
    mongo_uri: str, tmp_path: Path, cipher: AesGcmCipher
) -> None:
    name = f"t_{uuid.uuid4().hex[:10]}"
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    try:
        db = client[name]
        await _seeded(db, cipher, (ANNA, "swordfish"))
        before = await _snapshot(db)
        env = {
            "COMPANION_MONGO__URI": mongo_uri,
            "COMPANION_MONGO__DATABASE": name,
            "COMPANION_BACKUP__DIRECTORY": str(tmp_path),
        }
        made = _cli(env, "backup")
        assert made.returncode == 0, made.stderr
        assert "backup companion-" in made.stdout

        await client.drop_database(name)
        restored = _cli(env, "restore", "--yes")
        assert restored.returncode == 0, restored.stderr
        assert await _snapshot(db) == before

        missing = _cli({**env, "COMPANION_BACKUP__DIRECTORY": str(tmp_path / "none")}, "restore")
        assert missing.returncode == 1
        assert "no backup archive found" in missing.stderr
    finally:
        await client.drop_database(name)
        await client.close()
