"""Off-host copies of backups in S3-compatible storage (boto3 against tests/emulators/s3.py):
`companion db backup --bucket` copies each archive, `restore --from-bucket` fetches and
restores it on a host that has no local archive, and failures are one clear line."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from companion.storage import backup
from companion.storage.backup_offsite import OffsiteUnavailableError, S3Target, download, upload
from companion.storage.crypto import AesGcmCipher
from tests.emulators.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Emulator, decode_aws_chunked
from tests.integration.storage.test_backup import ANNA, _seeded, _snapshot

COMPANION = str(Path(sys.executable).parent / "companion")


@pytest.fixture
async def s3() -> Any:
    async with S3Emulator(buckets=("backups",)) as emulator:
        yield emulator


def target(s3: S3Emulator, **changes: Any) -> S3Target:
    fields: dict[str, Any] = {
        "bucket": "backups",
        "prefix": "companion/",
        "endpoint_url": s3.endpoint_url,
        "region": "ru-central1",
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
    }
    return S3Target(**{**fields, **changes})


def test_aws_chunked_bodies_are_decoded() -> None:
    body = b"5;chunk-signature=x\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n"
    assert decode_aws_chunked(body) == b"hello world"


async def test_an_archive_goes_to_the_bucket_and_comes_back(s3: S3Emulator, tmp_path: Path) -> None:
    archive = tmp_path / "companion-20261205T000000Z.tar.gz"
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several chunks of a streamed upload
    archive.write_bytes(payload)
    key = await upload(target(s3), archive)
    assert key == "companion/companion-20261205T000000Z.tar.gz"
    assert s3.buckets["backups"][key].data == payload

    elsewhere = tmp_path / "restore-host"
    elsewhere.mkdir()
    fetched = await download(target(s3), archive.name, elsewhere)
    assert fetched == elsewhere / archive.name
    assert fetched.read_bytes() == payload


async def test_failures_are_one_line_without_secrets(s3: S3Emulator, tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"x")
    with pytest.raises(OffsiteUnavailableError, match="NoSuchBucket") as error:
        await upload(target(s3, bucket="nope"), archive)
    with pytest.raises(OffsiteUnavailableError, match="InvalidAccessKeyId"):
        await upload(target(s3, access_key_id="stolen"), archive)
    assert SECRET_ACCESS_KEY not in str(error.value)
    with pytest.raises(OffsiteUnavailableError, match=r"(404|NoSuchKey)"):
        await download(target(s3), "missing.tar.gz", tmp_path)
    assert not (tmp_path / "missing.tar.gz").exists()
    with pytest.raises(OffsiteUnavailableError, match="not an archive name"):
        await download(target(s3), "../etc/passwd", tmp_path)


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    # Not subprocess.run: the emulator answers on this event loop while the command runs.
    process = await asyncio.create_subprocess_exec(
        COMPANION,
        "db",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_new_host_restores_from_the_bucket(
    s3: S3Emulator, mongo_uri: str, tmp_path: Path, cipher: AesGcmCipher
) -> None:
    name = f"t_{uuid.uuid4().hex[:10]}"
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    env = {
        "COMPANION_MONGO__URI": mongo_uri,
        "COMPANION_MONGO__DATABASE": name,
        "COMPANION_BACKUP__DIRECTORY": str(tmp_path / "host-a"),
        "COMPANION_BACKUP__S3_BUCKET": "backups",
        "COMPANION_BACKUP__S3_ENDPOINT_URL": s3.endpoint_url,
        "COMPANION_BACKUP__S3_REGION": "ru-central1",
        "COMPANION_BACKUP__S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "COMPANION_BACKUP__S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
    try:
        db = client[name]
        await _seeded(db, cipher, (ANNA, "swordfish"))
        before = await _snapshot(db)
        code, out, err = await _cli(env, "backup")
        assert code == 0, err
        [key] = s3.buckets["backups"]
        assert f"copied to s3://backups/{key}" in out
        local = backup.latest(tmp_path / "host-a")
        assert local is not None and s3.buckets["backups"][key].data == local.read_bytes()

        # The first host is gone: a new one with an empty directory restores from the bucket.
        await client.drop_database(name)
        new_host = {**env, "COMPANION_BACKUP__DIRECTORY": str(tmp_path / "host-b")}
        archive = key.removeprefix("companion/")
        code, out, err = await _cli(new_host, "restore", "--from-bucket", archive, "--yes")
        assert code == 0, err
        assert await _snapshot(db) == before

        code, out, err = await _cli(new_host, "restore", "--from-bucket", "gone.tar.gz", "--yes")
        assert (code == 1 and "NoSuchKey" in err) or "404" in err
        assert "Traceback" not in err
    finally:
        await client.drop_database(name)
        await client.close()
