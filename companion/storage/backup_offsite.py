"""An off-host copy of each backup archive in S3-compatible storage (AWS S3, MinIO, Yandex
Object Storage, ...), optional: on when a bucket is configured and boto3 is installed.

A disk that dies takes the local archives with it; the copy is what a new host restores from.
Retention of the bucket is the bucket's own lifecycle rule (docs/operations.md, "Backups").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class S3Target:
    bucket: str
    prefix: str = "companion/"
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class OffsiteUnavailableError(RuntimeError):
    pass


def _client(target: S3Target) -> Any:
    try:
        import boto3  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:  # optional dependency
        raise OffsiteUnavailableError("an S3 bucket is set but boto3 is not installed") from exc
    return boto3.client(
        "s3",
        endpoint_url=target.endpoint_url,
        region_name=target.region,
        aws_access_key_id=target.access_key_id,
        aws_secret_access_key=target.secret_access_key,
    )


async def upload(target: S3Target, archive: Path) -> str:
    """Copy `archive` to the bucket; returns the object key."""
    key = f"{target.prefix}{archive.name}"
    client = _client(target)
    # boto3 is blocking: the upload runs in a thread so a backup loop's timers keep running.
    await asyncio.to_thread(client.upload_file, str(archive), target.bucket, key)
    return key


async def download(target: S3Target, name: str, directory: Path) -> Path:
    path = directory / name
    client = _client(target)
    await asyncio.to_thread(
        client.download_file, target.bucket, f"{target.prefix}{name}", str(path)
    )
    return path
